import Foundation

/// Successive halving (Jamieson & Talwalkar, 2016) over drawn configurations, with boosting rounds
/// as the budget: every configuration is trained on the smallest budget, the better half on
/// validation goes on to twice the budget, and so on until one is left, trained on the full budget.
/// The rungs' budgets are the full one halved back from the last rung (at least one round).
///
/// A survivor is not trained again from scratch: it continues boosting from its previous rung's
/// model (XGBoost's continued training, as a retrain from a base version does), so each rung only
/// trains the rounds its budget adds.
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

    /// The rounds each rung adds to its survivors' models: the first rung's budget, then the
    /// difference to the rung before (0 when the budget did not grow: that rung trains nothing).
    public static func increments(configurations: Int, fullRounds: Int) -> [Int] {
        let budgets = budgets(configurations: configurations, fullRounds: fullRounds)
        return budgets.indices.map { $0 == 0 ? budgets[0] : budgets[$0] - budgets[$0 - 1] }
    }

    /// Boosting rounds a halving runs in all, every rung's survivors times the rounds it adds.
    public static func roundsRun(configurations: Int, fullRounds: Int) -> Int {
        zip(survivors(configurations: configurations), increments(configurations: configurations, fullRounds: fullRounds))
            .reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// The work of a halving in trainings of the full budget (for a job's estimate).
    public static func work(configurations: Int, fullRounds: Int) -> Double {
        Double(roundsRun(configurations: configurations, fullRounds: fullRounds)) / Double(max(fullRounds, 1))
    }

    /// How many trainings a halving runs (a rung whose budget did not grow trains none).
    public static func trainings(configurations: Int, fullRounds: Int) -> Int {
        zip(survivors(configurations: configurations), increments(configurations: configurations, fullRounds: fullRounds))
            .reduce(0) { $0 + ($1.1 > 0 ? $1.0 : 0) }
    }

    /// Runs the rungs. `train(configuration, rounds, previous)` brings configuration number
    /// `configuration` to `rounds` rounds — from scratch at the first rung, else continuing
    /// `previous` (its model from the rung before, with that model's rounds), so it trains only
    /// `rounds - previous.rounds` more — and answers its validation score (higher is better) with
    /// what it made. A rung whose budget did not grow keeps the previous rung's models and scores
    /// without training. Ties keep the configuration drawn first. Answers the last rung's winner.
    public static func run<Trained>(
        configurations: Int, fullRounds: Int,
        train: (_ configuration: Int, _ rounds: Int, _ previous: (rounds: Int, trained: Trained)?) async throws -> (score: Double, trained: Trained)
    ) async throws -> (configuration: Int, trained: Trained)? {
        var alive = Array(0..<configurations)
        var kept: [Int: (rounds: Int, score: Double, trained: Trained)] = [:]
        var ranked: [(configuration: Int, score: Double, trained: Trained)] = []
        for rounds in budgets(configurations: configurations, fullRounds: fullRounds) {
            ranked = []
            for configuration in alive {
                if let previous = kept[configuration], previous.rounds >= rounds {
                    ranked.append((configuration, previous.score, previous.trained))
                    continue
                }
                let previous = kept[configuration].map { (rounds: $0.rounds, trained: $0.trained) }
                let (score, trained) = try await train(configuration, rounds, previous)
                ranked.append((configuration, score.isNaN ? -.infinity : score, trained))
            }
            ranked.sort { $0.score != $1.score ? $0.score > $1.score : $0.configuration < $1.configuration }
            // Only the survivors' models are kept (to continue from): the others are dropped here.
            let survivors = ranked.prefix(max(1, ranked.count / 2))
            alive = survivors.map(\.configuration)
            kept = Dictionary(uniqueKeysWithValues: survivors.map { ($0.configuration, (rounds, $0.score, $0.trained)) })
        }
        return ranked.first.map { ($0.configuration, $0.trained) }
    }
}
