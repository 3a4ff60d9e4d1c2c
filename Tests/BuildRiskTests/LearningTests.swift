import BuildRiskLearning
import Foundation
import Testing

/// A seeded generator so every fixture is the same on every run.
private struct Fixture {
    var state: UInt64

    mutating func uniform() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53)
    }

    /// `rows` builds with two numeric features (one with missing values), a categorical one and an
    /// outcome that depends on them: fails when size + 2·(language == "cpp") + noise > 1.5.
    mutating func builds(_ rows: Int) throws -> LabeledTable {
        var size: [Double] = [], age: [Double] = [], language: [String?] = [], failed: [Bool] = [], branches: [String] = []
        for row in 0..<rows {
            let s = uniform() * 2
            let cpp = uniform() < 0.3
            size.append(s)
            age.append(uniform() < 0.1 ? .nan : uniform() * 100)
            language.append(uniform() < 0.05 ? nil : cpp ? "cpp" : "swift")
            failed.append(s + (cpp ? 2 : 0) + (uniform() - 0.5) > 1.5)
            branches.append("branch-\(row % 7)")
        }
        let table = try FeatureTable(rowCount: rows, columns: [
            .numeric(name: "size", values: size), .numeric(name: "age", values: age), .categorical(name: "language", values: language),
        ])
        return try LabeledTable(table: table, failed: failed, branches: branches, repositories: branches.map { $0.hasSuffix("0") ? "org/a" : "org/b" })
    }

    mutating func matrix(rows: Int, columns: Int, label: (ArraySlice<Float>) -> Bool) throws -> LabeledMatrix {
        let values = (0..<rows * columns).map { _ in Float(uniform()) }
        let matrix = try FeatureMatrix(rowCount: rows, columnNames: (0..<columns).map { "x\($0)" }, values: values)
        return try LabeledMatrix(features: matrix, failed: (0..<rows).map { label(matrix.row($0)) })
    }
}

private func temporaryDirectory() -> URL {
    FileManager.default.temporaryDirectory.appending(path: "learning-\(UUID().uuidString)")
}

private var quickTrees: XGBoostParameters {
    var parameters = XGBoostParameters()
    parameters.rounds = 20
    parameters.maxDepth = 3
    parameters.threads = 1
    return parameters
}

struct LearningTests {
    @Test(arguments: ModelKind.allCases)
    func savedAndReloadedModelPredictsIdentically(kind: ModelKind) throws {
        var fixture = Fixture(state: 1)
        let training = try fixture.builds(400), validation = try fixture.builds(150), test = try fixture.builds(150)
        let configuration = TrainingConfiguration(kind: kind, xgboost: quickTrees, bootstrapModels: 3)
        let artifact = try RiskModelTrainer.train(configuration: configuration, training: training, validation: validation, test: test)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try artifact.save(to: directory)

        let before = try RiskModel(artifact: artifact).predict(test.table, contributions: true)
        let after = try RiskModel(artifact: ModelArtifact.load(from: directory)).predict(test.table, contributions: true)
        #expect(after == before)
        #expect(before.allSatisfy { $0.uncertainty != nil && $0.contributions?.last?.feature == "(bias)" })
        #expect(Set(before.map(\.level)).count > 1)
        // Parrot beside the model, overall and per repository (org/a holds branch-0, org/b the others).
        #expect(artifact.evaluation.parrot?.count == 150)
        #expect(artifact.evaluation.repositories.map(\.repository) == ["org/a", "org/b"])
        #expect(artifact.evaluation.repositories.allSatisfy { $0.parrot != nil && $0.beatsParrot != nil })
        #expect(artifact.evaluation.repositories.map(\.model.count).reduce(0, +) == 150)
        if kind == .xgboost {
            // XGBoost's own JSON model format (what Python's xgboost.Booster(model_file=) reads).
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appending(path: "xgboost.json"))) as? [String: Any]
            #expect(json?["learner"] != nil)
        }
    }

    @Test func xgboostLearnsASeparableProblemAndNothingFromNoise() throws {
        var fixture = Fixture(state: 2)
        let separable = try fixture.matrix(rows: 1_500, columns: 4) { $0[$0.startIndex + 1] > 0.5 }
        let model = try XGBoostBooster.train(separable.rows(0..<1_000), parameters: quickTrees)
        let held = separable.rows(1_000..<1_500)
        #expect(try #require(ClassificationMetrics(probabilities: model.predict(held.features), failed: held.failed).rocAUC) > 0.99)

        var coin = Fixture(state: 3)
        let noise = try fixture.matrix(rows: 4_000, columns: 4) { _ in coin.uniform() < 0.5 }
        let guesser = try XGBoostBooster.train(noise.rows(0..<2_000), parameters: quickTrees)
        let unseen = noise.rows(2_000..<4_000)
        let auc = try #require(ClassificationMetrics(probabilities: guesser.predict(unseen.features), failed: unseen.failed).rocAUC)
        #expect(abs(auc - 0.5) < 0.05)
    }

    @Test func contributionsAddUpToTheMargin() throws {
        var fixture = Fixture(state: 4)
        let data = try fixture.matrix(rows: 300, columns: 3) { $0[$0.startIndex] + $0[$0.startIndex + 2] > 1 }
        let model = try XGBoostBooster.train(data, parameters: quickTrees)
        let probabilities = try model.predict(data.features)
        for (row, contributions) in try model.contributions(data.features).enumerated() {
            #expect(contributions.count == 4)
            let margin = Double(contributions.reduce(0, +))
            #expect(abs(1 / (1 + exp(-margin)) - probabilities[row]) < 1e-4)
        }
    }

    @Test func metricsMatchHandComputedValues() throws {
        // At 0.5: failed and called failed 0.9 0.8 0.6; called failed 0.7; missed 0.3; passed 0.4 0.2 0.1.
        let probabilities = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]
        let failed = [true, true, false, true, false, true, false, false]
        let metrics = try ClassificationMetrics(probabilities: probabilities, failed: failed)
        #expect(metrics.confusion == ConfusionMatrix(truePositives: 3, falsePositives: 1, trueNegatives: 3, falseNegatives: 1))
        #expect(metrics.accuracy == 0.75)
        #expect(metrics.precision == 0.75 && metrics.recall == 0.75 && metrics.f1 == 0.75)
        // 13 of the 16 (failed, passed) pairs are ordered right.
        let rocAUC = try #require(metrics.rocAUC)
        #expect(abs(rocAUC - 13.0 / 16) < 1e-12)
        // Precision at each failure's rank: 1/1, 2/2, 3/4, 4/6, each worth a quarter of the recall.
        let averagePrecision = try #require(metrics.prAUC)
        let handComputed: Double = (1 + 1 + 0.75 + 4.0 / 6) / 4
        #expect(abs(averagePrecision - handComputed) < 1e-12)
        // (0.1² + 0.2² + 0.7² + 0.4² + 0.4² + 0.7² + 0.2² + 0.1²) / 8
        #expect(abs(metrics.brier - 0.175) < 1e-12)
        // Ties count one half: two equal scores, one failed and one passed.
        #expect(try ClassificationMetrics(probabilities: [0.5, 0.5], failed: [true, false]).rocAUC == 0.5)

        // F1 by cut-off: best (0.8) when the top six are called failed, i.e. at 0.3; that cut-off
        // is also the first to catch 90 % of the failures.
        let thresholds = try RiskThresholds.choose(probabilities: probabilities, failed: failed)
        #expect(thresholds == RiskThresholds(medium: 0.3, high: 0.3))
        #expect(thresholds.level(0.35) == .high && thresholds.level(0.29) == .low)
    }

    /// Scores that are overconfident by construction — logit(p) = 3·logit(q) + 1 where q is the
    /// true failure rate — are mapped back: Platt's a ≈ 1/3, b ≈ −1/3, so among builds scored
    /// around 0.9 about 0.64 fail and the calibrated probability says so (Brier score lower).
    @Test func plattCalibrationUndoesOverconfidentScores() throws {
        var fixture = Fixture(state: 12)
        var scores: [Double] = [], truth: [Double] = [], failed: [Bool] = []
        for _ in 0..<5_000 {
            let q = 0.05 + 0.9 * fixture.uniform()
            let logit = log(q / (1 - q))
            truth.append(q)
            scores.append(1 / (1 + exp(-(3 * logit + 1))))
            failed.append(fixture.uniform() < q)
        }
        let calibration = try PlattCalibration.fit(probabilities: scores, failed: failed)
        #expect(abs(calibration.a - 1.0 / 3) < 0.05 && abs(calibration.b + 1.0 / 3) < 0.1, "\(calibration)")
        let calibrated = scores.map(calibration.apply)
        // Each calibrated probability is near the true rate the fixture drew the build's outcome from.
        let worst = zip(calibrated, truth).map { abs($0 - $1) }.max() ?? 1
        #expect(worst < 0.05, "largest |calibrated − true| \(worst)")
        let before = try ClassificationMetrics(probabilities: scores, failed: failed)
        let after = try ClassificationMetrics(probabilities: calibrated, failed: failed)
        #expect(after.brier < before.brier)
        // Monotone: the ranking, hence ROC AUC, is unchanged.
        #expect(after.rocAUC == before.rocAUC)
    }

    @Test func preprocessingIsFittedOnTrainingRowsOnly() throws {
        let training = try FeatureTable(rowCount: 4, columns: [
            .numeric(name: "lines", values: [1, 2, 3, .nan]),
            .categorical(name: "ci", values: ["travis", "actions", "travis", nil]),
        ])
        let test = try FeatureTable(rowCount: 2, columns: [
            .numeric(name: "lines", values: [1_000, .nan]),
            .categorical(name: "ci", values: ["jenkins", "actions"]),
        ])
        let preprocessor = try Preprocessor.fit(training, options: .linear)
        #expect(preprocessor.outputNames == ["lines", "lines#missing", "ci=travis", "ci=actions", "ci=#missing"])
        // Training: median 2 fills the gap; mean of [1, 2, 3, 2] is 2, population deviation √0.5.
        let scale = 0.5.squareRoot()
        let matrix = try preprocessor.transform(test)
        #expect(abs(Double(matrix[0, 0]) - 998 / scale) < 1e-2)
        #expect(Array(matrix.row(0).dropFirst()) == [0, 0, 0, 0])  // present; a CI never seen in training sets nothing
        #expect(Array(matrix.row(1)) == [0, 1, 0, 1, 0])  // the median, scaled, is 0; flagged missing
        // The test rows moved nothing: the training rows transform the same before and after.
        let trained = try preprocessor.transform(training)
        #expect(abs(Double(trained[0, 0]) + 1 / scale) < 1e-6)
        #expect(try Preprocessor.fit(training, options: .linear) == preprocessor)
        // A column the model was fitted on must be there.
        #expect(throws: LearningError.self) {
            try preprocessor.transform(FeatureTable(rowCount: 1, columns: [.numeric(name: "lines", values: [1])]))
        }
    }

    @Test func cancellationStopsBetweenBoostingRounds() throws {
        var fixture = Fixture(state: 5)
        let data = try fixture.matrix(rows: 500, columns: 3) { $0[$0.startIndex] > 0.5 }
        var parameters = quickTrees
        parameters.rounds = 100_000
        let flag = CancellationFlag()
        var rounds = 0
        #expect(throws: CancellationError.self) {
            _ = try XGBoostBooster.train(data, parameters: parameters, isCancelled: flag.check) { _ in
                rounds += 1
                if rounds == 5 { flag.cancel() }
            }
        }
        #expect(rounds == 5)
    }

    @Test func cancellingTheTaskStopsTheWholeTraining() async throws {
        var fixture = Fixture(state: 6)
        let training = try fixture.builds(400), validation = try fixture.builds(100)
        var parameters = quickTrees
        parameters.rounds = 100_000
        let flag = CancellationFlag()
        let firstRound = AsyncStream.makeStream(of: Void.self)
        let job = Task.detached {
            try await withTaskCancellationHandler {
                try RiskModelTrainer.train(
                    configuration: TrainingConfiguration(kind: .xgboost, xgboost: parameters, bootstrapModels: 2),
                    training: training, validation: validation, isCancelled: flag.check
                ) { progress in
                    guard progress.round != nil else { return }
                    firstRound.continuation.yield()
                    // Hold the training in its first round until the cancellation has reached the
                    // flag: on a loaded machine it could otherwise finish every round first.
                    let deadline = Date().addingTimeInterval(60)
                    while !flag.isCancelled && Date() < deadline { usleep(1_000) }
                }
            } onCancel: { flag.cancel() }
        }
        for await _ in firstRound.stream { break }
        job.cancel()
        await #expect(throws: CancellationError.self) { try await job.value }
    }

    @Test func logisticRegressionReachesTheHandSolvedOptimum() throws {
        // x = +1: three failures, one pass; x = −1: one failure, three passes. By symmetry the
        // intercept is 0, and unpenalised σ(w) = 3/4, so w = ln 3. With l2 = 2 the optimum solves
        // Σ x(σ − y) + 2w = 8σ(w) − 6 + 2w = 0.
        let x: [Float] = [1, 1, 1, 1, -1, -1, -1, -1]
        let failed = [true, true, true, false, true, false, false, false]
        let data = try LabeledMatrix(features: FeatureMatrix(rowCount: 8, columnNames: ["x"], values: x), failed: failed)
        let free = try LogisticRegression.fit(data, parameters: .init(l2: 0))
        #expect(abs(free.weights[0] - log(3)) < 1e-6 && abs(free.intercept) < 1e-6)
        let penalised = try LogisticRegression.fit(data, parameters: .init(l2: 2))
        let w = penalised.weights[0]
        #expect(abs(8 / (1 + exp(-w)) - 6 + 2 * w) < 1e-6 && w > 0 && w < log(3))

        // The analytic gradient against central differences, at an arbitrary point.
        var fixture = Fixture(state: 7)
        let wide = try fixture.matrix(rows: 30, columns: 3) { $0[$0.startIndex] > 0.4 }
        let y = wide.failed.map { $0 ? 1.0 : 0.0 }
        let beta = [0.3, -1.2, 0.8, 0.1]
        let (_, gradient) = LogisticRegression.objective(beta, wide.features, y, l2: 0.7)
        for j in beta.indices {
            var up = beta, down = beta
            up[j] += 1e-5
            down[j] -= 1e-5
            let numeric = (LogisticRegression.objective(up, wide.features, y, l2: 0.7).0 - LogisticRegression.objective(down, wide.features, y, l2: 0.7).0) / 2e-5
            #expect(abs(numeric - gradient[j]) < 1e-5 * max(1, abs(numeric)))
        }
    }

    @Test func retrainingContinuesFromTheBaseModelsTrees() throws {
        var fixture = Fixture(state: 8)
        let configuration = TrainingConfiguration(kind: .xgboost, xgboost: quickTrees, bootstrapModels: 0)
        let base = try RiskModelTrainer.train(configuration: configuration, training: fixture.builds(300), validation: fixture.builds(100))
        let newer = try fixture.builds(300), validation = try fixture.builds(100)
        let continued = try RiskModelTrainer.train(configuration: configuration, training: newer, validation: validation, base: base)
        #expect(continued.baseRounds == 20)
        #expect(try XGBoostBooster(modelJSON: #require(continued.xgboostModel)).boostedRounds() == 40)
        #expect(continued.preprocessor == base.preprocessor)
    }

    @Test func xgboostErrorsComeBackTyped() throws {
        var fixture = Fixture(state: 9)
        var parameters = quickTrees
        parameters.treeMethod = "no-such-method"
        let data = try fixture.matrix(rows: 50, columns: 2) { $0[$0.startIndex] > 0.5 }
        do {
            _ = try XGBoostBooster.train(data, parameters: parameters)
            Issue.record("XGBoost accepted an unknown tree method")
        } catch let LearningError.xgboost(call, message) {
            #expect(!call.isEmpty && message.contains("no-such-method"))
        }
        #expect(throws: LearningError.self) { try XGBoostBooster(modelJSON: Data("not a model".utf8)) }
    }

    @Test func parrotRepeatsTheBranchsPreviousOutcome() {
        let history = [(branch: "main", failed: true), (branch: "dev", failed: false), (branch: "main", failed: false)]
        let evaluated = [(branch: "dev", failed: true), (branch: "dev", failed: false), (branch: "new", failed: false), (branch: "main", failed: true)]
        // dev passed last → 0; then dev failed → 1; "new" has no history → failure rate so far 2/5; main passed last → 0.
        #expect(ParrotBaseline.predictions(history: history, evaluated: evaluated) == [0, 1, 0.4, 0])
    }

    @Test func sequencesHoldTheBranchsPreviousBuildsOldestFirst() throws {
        let matrix = try FeatureMatrix(rowCount: 4, columnNames: ["x"], values: [1, 2, 3, 4])
        let sequences = try BranchSequences(matrix, branches: ["a", "b", "a", "a"], length: 3)
        // Each step is [present, x]; missing history is zero-padded at the front.
        #expect(sequences.values == [
            0, 0, 0, 0, 1, 1,  // a: nothing before 1
            0, 0, 0, 0, 1, 2,  // b: nothing before 2
            0, 0, 1, 1, 1, 3,  // a: 1 then 3
            1, 1, 1, 3, 1, 4,  // a: 1, 3 then 4
        ])
    }

    @Test func gruGradientMatchesFiniteDifferences() throws {
        var fixture = Fixture(state: 10)
        let values = (0..<30).map { _ in Float(fixture.uniform() * 2 - 1) }
        let sequences = try BranchSequences(try FeatureMatrix(rowCount: 15, columnNames: ["x", "y"], values: values),
                                            branches: (0..<15).map { "b\($0 % 3)" }, length: 3)
        let failed = (0..<15).map { $0 % 2 == 0 }
        var model = GRUClassifier(inputWidth: sequences.width, hidden: 4, seed: 3)
        // Larger weights than the initialisation, so every gate works away from its linear middle.
        model.weights = model.weights.map { $0 * 3 }
        let indices = Array(0..<15)
        let (_, gradient) = model.lossAndGradient(sequences, failed: failed, indices: indices, l2: 0.3)
        var worst = 0.0
        for j in model.weights.indices {
            var up = model, down = model
            up.weights[j] += 1e-6
            down.weights[j] -= 1e-6
            let numeric = (up.lossAndGradient(sequences, failed: failed, indices: indices, l2: 0.3).0
                - down.lossAndGradient(sequences, failed: failed, indices: indices, l2: 0.3).0) / 2e-6
            worst = max(worst, abs(numeric - gradient[j]) / max(1e-3, abs(numeric) + abs(gradient[j])))
        }
        #expect(worst < 1e-5)
    }

    @Test func gruLearnsFromTheBranchsHistory() throws {
        // A build fails when the previous build of its branch had x > 0.5: visible only through history.
        var fixture = Fixture(state: 11)
        let rows = 1_200
        let x = (0..<rows).map { _ in Float(fixture.uniform()) }
        let branches = (0..<rows).map { "b\($0 % 10)" }
        var last: [String: Float] = [:]
        let failed = (0..<rows).map { row in
            defer { last[branches[row]] = x[row] }
            return (last[branches[row]] ?? 0) > 0.5
        }
        let sequences = try BranchSequences(FeatureMatrix(rowCount: rows, columnNames: ["x"], values: x), branches: branches, length: 3)
        var parameters = GRUClassifier.Parameters()
        parameters.hidden = 8
        parameters.epochs = 15
        parameters.batchSize = 32
        var epochs = 0
        let model = try GRUClassifier.fit(sequences.samples(0..<900), failed: Array(failed[0..<900]), parameters: parameters, onEpoch: { _ in epochs += 1 })
        let held = sequences.samples(900..<rows)
        #expect(epochs == 15)
        #expect(try #require(ClassificationMetrics(probabilities: model.predict(held), failed: Array(failed[900..<rows])).rocAUC) > 0.95)
    }

    /// A build fails when the previous build of its branch had x > 0.5: the main learner, reading
    /// only the build's own x, cannot see it; the sequence model can. It serves exactly the builds
    /// with 5 earlier builds on their branch, beats the fallback there, and predicts the same after
    /// a save and reload.
    @Test func theSequenceModelServesOnlyBuildsWithFiveEarlierBuildsOnTheirBranch() throws {
        var fixture = Fixture(state: 12)
        let rows = 1_400
        let x = (0..<rows).map { _ in fixture.uniform() }
        // Eleven branches, the last one short-lived: its builds never have five before them.
        let branches = (0..<rows).map { $0 >= 1_300 && $0 % 20 == 0 ? "short-\($0)" : "b\($0 % 10)" }
        var last: [String: Double] = [:]
        let failed = (0..<rows).map { row in
            defer { last[branches[row]] = x[row] }
            return (last[branches[row]] ?? 0) > 0.5
        }
        func split(_ range: Range<Int>) throws -> LabeledTable {
            try LabeledTable(
                table: FeatureTable(rowCount: range.count, columns: [.numeric(name: "x", values: Array(x[range]))]),
                failed: Array(failed[range]), branches: Array(branches[range]))
        }
        var sequence = SequenceConfiguration(bootstrapModels: 2)
        sequence.gru.hidden = 8
        sequence.gru.epochs = 12
        sequence.gru.batchSize = 32
        let configuration = TrainingConfiguration(kind: .xgboost, xgboost: quickTrees, bootstrapModels: 2, sequence: sequence)
        let test = try split(1_200..<rows)
        let artifact = try RiskModelTrainer.train(
            configuration: configuration, training: try split(0..<1_000), validation: try split(1_000..<1_200), test: test)
        let member = try #require(artifact.sequence)
        #expect(member.minimumHistory == 5)

        // Each test build's earlier builds on its branch (over every split), counted from the fixture.
        var seen: [String: [Int]] = [:]
        var previous: [[Int]] = []
        for row in 0..<rows {
            if row >= 1_200 { previous.append(Array((seen[branches[row]] ?? []).suffix(5))) }
            seen[branches[row], default: []].append(row)
        }
        let full = previous.indices.filter { previous[$0].count == 5 }
        #expect(full.count == 200 - 5)  // the five short-lived branches' builds have none
        let evaluation = try #require(artifact.evaluation.sequence)
        #expect(evaluation.adopted && evaluation.validationROCAUC! > evaluation.validationFallbackROCAUC!)
        #expect(evaluation.evaluatedCount == 200)
        #expect(evaluation.servedCount == full.count)
        let gru = try #require(evaluation.sequence?.rocAUC), fallback = try #require(evaluation.fallback?.rocAUC)
        #expect(gru > 0.9 && gru > fallback + 0.2, "sequence \(gru), fallback \(fallback)")
        #expect(evaluation.beatsParrot != nil)

        // Served: each test build with its earlier builds, as rows of a table of every build.
        let table = test.table
        let narrowed = BranchHistory(
            table: try FeatureTable(rowCount: rows, columns: [.numeric(name: "x", values: x)]), previous: previous)
        let predictions = try RiskModel(artifact: artifact).predict(table, history: narrowed)
        for row in predictions.indices {
            #expect(predictions[row].servedBy == (previous[row].count == 5 ? .gru : .xgboost), "row \(row)")
            #expect(predictions[row].uncertainty != nil)
        }
        // Served as evaluated: the same probabilities the evaluation measured on those builds.
        let served = full.map { predictions[$0].failureProbability }
        #expect(try ClassificationMetrics(probabilities: served, failed: full.map { test.failed[$0] }).rocAUC == evaluation.sequence?.rocAUC)
        #expect(predictions.contains { $0.servedBy == .gru })
        #expect(predictions.filter { $0.servedBy == .gru }.allSatisfy { $0.contributions == nil })
        // Without a history every build is the fallback's.
        #expect(try RiskModel(artifact: artifact).predict(table).allSatisfy { $0.servedBy == .xgboost })

        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try artifact.save(to: directory)
        #expect(try RiskModel(artifact: ModelArtifact.load(from: directory)).predict(table, history: narrowed) == predictions)
    }

    /// A sequence model that ranks no better than the fallback on validation is measured and
    /// reported, not served: on builds whose outcome depends on their own features only, the
    /// fallback serves every build, with or without a history.
    @Test func aSequenceModelNoBetterThanTheFallbackIsReportedAndNotServed() throws {
        var fixture = Fixture(state: 13)
        let training = try fixture.builds(600), validation = try fixture.builds(200), test = try fixture.builds(200)
        var sequence = SequenceConfiguration(bootstrapModels: 0)
        sequence.gru.hidden = 4
        sequence.gru.epochs = 2
        let artifact = try RiskModelTrainer.train(
            configuration: TrainingConfiguration(kind: .xgboost, xgboost: quickTrees, bootstrapModels: 0, sequence: sequence),
            training: training, validation: validation, test: test)
        let evaluation = try #require(artifact.evaluation.sequence)
        #expect(!evaluation.adopted, "sequence \(evaluation.validationROCAUC ?? 0), fallback \(evaluation.validationFallbackROCAUC ?? 0)")
        #expect(evaluation.validationROCAUC! <= evaluation.validationFallbackROCAUC!)
        #expect(artifact.sequence == nil)
        #expect(evaluation.served == artifact.evaluation.test, "the fallback's own test metrics")
        // Seven branches over 1,000 builds: nearly every test build had the history it would have served.
        #expect(evaluation.servedCount > 150)
        let everyBuild = BranchHistory(table: test.table, previous: test.failed.indices.map { Array(max(0, $0 - 5)..<$0) })
        #expect(try RiskModel(artifact: artifact).predict(test.table, history: everyBuild).allSatisfy { $0.servedBy == .xgboost })
    }

    /// The sequence model reads a build's earlier builds as given (every build that started
    /// before it, labelled or not, as the predictor serves it), not only the labelled rows: a
    /// build fails when its branch's previous build, labelled or not, had x > 0.5, and a third of
    /// the builds have no label. Given the history, the GRU sees the previous build every time;
    /// from the labelled rows alone it misses it for a third of them.
    @Test func theSequenceModelReadsTheHistoryItIsGivenUnlabelledBuildsIncluded() throws {
        var fixture = Fixture(state: 14)
        let count = 2_100
        let x = (0..<count).map { _ in fixture.uniform() }
        let branches = (0..<count).map { "b\($0 % 10)" }
        var last: [String: Double] = [:]
        let failed = (0..<count).map { row in
            defer { last[branches[row]] = x[row] }
            return (last[branches[row]] ?? 0) > 0.5
        }
        let labelled = (0..<count).filter { $0 % 3 != 1 }
        var seen: [String: [Int]] = [:]
        var previous = [[Int]](repeating: [], count: count)
        for row in 0..<count {
            previous[row] = Array((seen[branches[row]] ?? []).suffix(5))
            seen[branches[row], default: []].append(row)
        }
        func split(_ rows: ArraySlice<Int>) throws -> LabeledTable {
            try LabeledTable(
                table: FeatureTable(rowCount: rows.count, columns: [.numeric(name: "x", values: rows.map { x[$0] })]),
                failed: rows.map { failed[$0] }, branches: rows.map { branches[$0] }, previous: rows.map { previous[$0] })
        }
        let (training, validation, test) = (try split(labelled[0..<1_000]), try split(labelled[1_000..<1_200]), try split(labelled[1_200...]))
        var sequence = SequenceConfiguration(bootstrapModels: 0, onlyIfBetter: false)
        sequence.gru.hidden = 8
        sequence.gru.epochs = 12
        sequence.gru.batchSize = 32
        let configuration = TrainingConfiguration(kind: .xgboost, xgboost: quickTrees, bootstrapModels: 0, sequence: sequence)
        let everyBuild = try FeatureTable(rowCount: count, columns: [.numeric(name: "x", values: x)])
        let given = try RiskModelTrainer.train(
            configuration: configuration, training: training, validation: validation, test: test, sequenceHistory: everyBuild)
        let labelledOnly = try RiskModelTrainer.train(configuration: configuration, training: training, validation: validation, test: test)
        let withHistory = try #require(given.evaluation.sequence?.sequence?.rocAUC)
        let withoutHistory = try #require(labelledOnly.evaluation.sequence?.sequence?.rocAUC)
        #expect(withHistory > 0.95 && withHistory > withoutHistory + 0.1, "given \(withHistory), labelled rows only \(withoutHistory)")
        // Served with the same history, the test builds score as evaluated.
        let served = try RiskModel(artifact: given).predict(test.table, history: BranchHistory(table: everyBuild, previous: test.previous!))
        let full = test.previous!.indices.filter { test.previous![$0].count == 5 }
        #expect(full.allSatisfy { served[$0].servedBy == .gru })
        #expect(try ClassificationMetrics(probabilities: full.map { served[$0].failureProbability }, failed: full.map { test.failed[$0] }).rocAUC == withHistory)
    }
}
