import Foundation

/// Successive halving (Jamieson & Talwalkar, 2016) over drawn configurations, with boosting rounds
/// as the budget: every configuration is trained on the smallest budget, the better half on
/// validation goes on to twice the budget, and so on until one is left, trained on the full budget.
/// The rungs' budgets are the full one halved back from the last rung (at least one round).
public enum SuccessiveHalving {
    /// The rounds of each rung for `configurations` (≥ 1) configurations.
    public static func budgets(configurations: Int, fullRounds: Int) -> [Int] {
        let rungs = Int(log2(Double(max(configurations, 1))).rounded(.down)) + 1
        return (0..<rungs).map { rung in max(1, fullRounds >> (rungs - 1 - rung)) }
    }

    /// How many configurations each rung trains: all at the first, then half (rounded down, at least one).
    public static func survivors(configurations: Int) -> [Int] {
        var counts = [max(configurations, 1)]
        while counts.count < budgets(configurations: configurations, fullRounds: 1).count {
            counts.append(max(1, counts[counts.count - 1] / 2))
        }
        return counts
    }

    /// The work of a halving in trainings of the full budget (for a job's estimate).
    public static func work(configurations: Int, fullRounds: Int) -> Double {
        zip(survivors(configurations: configurations), budgets(configurations: configurations, fullRounds: fullRounds))
            .reduce(0) { $0 + Double($1.0 * $1.1) } / Double(max(fullRounds, 1))
    }

    /// Runs the rungs. `train(configuration, rounds)` trains configuration number `configuration`
    /// on `rounds` rounds and answers its validation score (higher is better) with what it made;
    /// ties keep the configuration drawn first. Answers the last rung's winner.
    public static func run<Trained>(
        configurations: Int, fullRounds: Int, train: (_ configuration: Int, _ rounds: Int) async throws -> (score: Double, trained: Trained)
    ) async throws -> (configuration: Int, trained: Trained)? {
        var alive = Array(0..<configurations)
        var ranked: [(configuration: Int, score: Double, trained: Trained)] = []
        for rounds in budgets(configurations: configurations, fullRounds: fullRounds) {
            ranked = []
            for configuration in alive {
                let (score, trained) = try await train(configuration, rounds)
                ranked.append((configuration, score.isNaN ? -.infinity : score, trained))
            }
            ranked.sort { $0.score != $1.score ? $0.score > $1.score : $0.configuration < $1.configuration }
            alive = ranked.prefix(max(1, ranked.count / 2)).map(\.configuration)
        }
        return ranked.first.map { ($0.configuration, $0.trained) }
    }
}
