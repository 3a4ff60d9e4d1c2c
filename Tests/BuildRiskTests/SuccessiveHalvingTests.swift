import BuildRiskLearning
import Foundation
import Testing
import TrainingOrchestratorCore

/// Successive halving as the training-orchestrator runs it: the rungs' budgets and survivors, and
/// on real XGBoost trainings a fixture whose best configuration is known by construction.
struct SuccessiveHalvingTests {
    @Test func rungsHalveTheConfigurationsAndDoubleTheRoundsUpToTheFullBudget() {
        #expect(SuccessiveHalving.budgets(configurations: 8, fullRounds: 200) == [25, 50, 100, 200])
        #expect(SuccessiveHalving.survivors(configurations: 8) == [8, 4, 2, 1])
        #expect(SuccessiveHalving.budgets(configurations: 5, fullRounds: 40) == [10, 20, 40])
        #expect(SuccessiveHalving.survivors(configurations: 5) == [5, 2, 1])
        #expect(SuccessiveHalving.budgets(configurations: 3, fullRounds: 40) == [20, 40])
        #expect(SuccessiveHalving.survivors(configurations: 3) == [3, 1])
        // Never below one round.
        #expect(SuccessiveHalving.budgets(configurations: 16, fullRounds: 4) == [1, 1, 1, 2, 4])
        // Survivors continue their trees: 8 × 25 rounds, then 4 × 25 more, 2 × 50 more, 1 × 100 more
        // (500 rounds, 2.5 full trainings) instead of 8 × 25 + 4 × 50 + 2 × 100 + 1 × 200 (800, 4).
        #expect(SuccessiveHalving.increments(configurations: 8, fullRounds: 200) == [25, 25, 50, 100])
        #expect(SuccessiveHalving.roundsRun(configurations: 8, fullRounds: 200) == 500)
        #expect(SuccessiveHalving.work(configurations: 8, fullRounds: 200) == 2.5)
        // A rung whose budget does not grow trains nothing: 16 × 1, 8 × 0, 4 × 0, 2 × 1, 1 × 2.
        #expect(SuccessiveHalving.increments(configurations: 16, fullRounds: 4) == [1, 0, 0, 1, 2])
        #expect(SuccessiveHalving.roundsRun(configurations: 16, fullRounds: 4) == 20)
        #expect(SuccessiveHalving.trainings(configurations: 16, fullRounds: 4) == 19)
    }

    /// Builds fail when exactly one of two features is high (an XOR): trees of depth 1 add up
    /// one feature at a time and cannot tell it (validation ROC AUC near 0.5), depth 3 can. Of
    /// four configurations only the third has depth 3, so it must be the one left at the end.
    @Test func itKeepsTheConfigurationThatIsBestOnValidation() async throws {
        var state: UInt64 = 7
        func uniform() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        func builds(_ rows: Int) throws -> LabeledTable {
            var a: [Double] = [], b: [Double] = [], failed: [Bool] = []
            for _ in 0..<rows {
                let (x, y) = (uniform(), uniform())
                a.append(x)
                b.append(y)
                failed.append((x > 0.5) != (y > 0.5))
            }
            return try LabeledTable(
                table: try FeatureTable(rowCount: rows, columns: [.numeric(name: "a", values: a), .numeric(name: "b", values: b)]), failed: failed)
        }
        let training = try builds(600), validation = try builds(200)
        let configurations: [(depth: Int, rate: Double)] = [(1, 0.3), (1, 0.1), (3, 0.3), (1, 0.05)]
        // Each call: the configuration, the rounds it reaches, the rounds it continued from, the rounds it boosted.
        var calls: [(configuration: Int, rounds: Int, from: Int, boosted: Int)] = []
        let winner = try await SuccessiveHalving.run(configurations: configurations.count, fullRounds: 40) {
            (index: Int, rounds: Int, previous: (rounds: Int, trained: ModelArtifact)?) -> (score: Double, trained: ModelArtifact) in
            var trees = XGBoostParameters()
            trees.rounds = rounds - (previous?.rounds ?? 0)
            trees.maxDepth = configurations[index].depth
            trees.learningRate = configurations[index].rate
            trees.threads = 1
            var boosted = 0
            // No test rows: the choice sees validation only.
            let artifact = try RiskModelTrainer.train(
                configuration: TrainingConfiguration(kind: .xgboost, xgboost: trees, bootstrapModels: 0), training: training, validation: validation,
                base: previous?.trained, onProgress: { step in if step.round != nil { boosted += 1 } })
            calls.append((index, rounds, previous?.rounds ?? 0, boosted))
            return (artifact.evaluation.validation.rocAUC ?? -1, artifact)
        }
        #expect(winner?.configuration == 2)
        #expect(calls.filter { $0.rounds == 10 }.map(\.configuration).sorted() == [0, 1, 2, 3])
        let second = calls.filter { $0.rounds == 20 }.map(\.configuration)
        #expect(second.count == 2 && second.contains(2))
        #expect(calls.filter { $0.rounds == 40 }.map(\.configuration) == [2])
        #expect(calls.count == 7)
        // Each rung continued the survivor's previous model: 4 × 10 + 2 × 10 + 1 × 20 rounds boosted
        // (80, not the 4 × 10 + 2 × 20 + 40 = 120 of retraining every rung from scratch) …
        #expect(calls.map(\.from) == [0, 0, 0, 0, 10, 10, 20])
        #expect(calls.map(\.boosted) == [10, 10, 10, 10, 10, 10, 20])
        // … and the model kept has all 40 rounds, 20 of them from its previous rung.
        let kept = try #require(winner?.trained)
        #expect(try XGBoostBooster(modelJSON: #require(kept.xgboostModel)).boostedRounds() == 40)
        #expect(kept.baseRounds == 20)
    }
}
