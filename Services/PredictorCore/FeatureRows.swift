import BuildRiskContracts
import BuildRiskGit
import BuildRiskLearning
import Foundation

/// Feature vectors (name → value, as the feature-extractor stores them) as the raw table a model
/// reads: only `columns`, numeric unless named in `categorical`.
public enum FeatureRows {
    public static func table(_ rows: [[String: FeatureValue]], columns: [String], categorical: Set<String>) throws -> FeatureTable {
        try FeatureTable(rowCount: rows.count, columns: columns.map { name in
            categorical.contains(name)
                ? .categorical(name: name, values: rows.map { category($0[name]) })
                : .numeric(name: name, values: rows.map { number($0[name]) })
        })
    }

    /// A number, a boolean as 0/1; anything else is missing (NaN).
    static func number(_ value: FeatureValue?) -> Double {
        switch value {
        case .integer(let value): Double(value)
        case .number(let value): value
        case .boolean(let value): value ? 1 : 0
        default: .nan
        }
    }

    /// A category as the value's text; null or absent is missing.
    static func category(_ value: FeatureValue?) -> String? {
        switch value {
        case nil, .null?: nil
        case let value?: value.description
        }
    }
}

/// Builds' earlier builds on their branch for the sequence model, as the predictor looked them
/// up: `rows` their features, `previous[i]` the rows of the i-th scored build's, oldest first.
public struct RowHistory: Sendable {
    public var rows: [[String: FeatureValue]]
    public var previous: [[Int]]

    public init(rows: [[String: FeatureValue]], previous: [[Int]]) {
        self.rows = rows
        self.previous = previous
    }

    /// Each build's own list of earlier builds, one list after another.
    init(concatenating histories: [[[String: FeatureValue]]]) {
        var rows: [[String: FeatureValue]] = []
        previous = histories.map { builds in
            defer { rows += builds }
            return Array(rows.count..<(rows.count + builds.count))
        }
        self.rows = rows
    }

    /// The history of builds `scored` (indices into `all`), given every build's previous builds
    /// (`previous`, indices into `all`): only the rows they name, renumbered.
    init(scored: [Int], previous: [[Int]], all: [[String: FeatureValue]]) {
        var rows: [[String: FeatureValue]] = []
        var position: [Int: Int] = [:]
        self.previous = scored.map { build in
            previous[build].map { earlier in
                if let known = position[earlier] { return known }
                rows.append(all[earlier])
                position[earlier] = rows.count - 1
                return rows.count - 1
            }
        }
        self.rows = rows
    }
}

/// Predictions of one served model with their contributions reduced to the largest ones.
public struct Scored: Sendable {
    public var prediction: RiskPrediction
    /// Largest magnitude first.
    public var top: [Contribution]
    /// The sum of the contributions left out of `top`.
    public var rest: Double
}

extension ServedModel {
    /// The raw columns this model reads (its training's pre-build features).
    public var inputColumns: [String] { model.artifact.inputColumns }

    /// Predicts `rows` with contributions, off the concurrency pool (XGBoost is blocking C work).
    /// With `top` 0 XGBoost's contributions are not computed at all (they cost more than the
    /// prediction): the answer has none and `rest` is the whole log-odds.
    /// With a `history`, a build with a full branch history is served by the model's sequence model.
    public func score(_ rows: [[String: FeatureValue]], top: Int, history: RowHistory? = nil) async throws -> [Scored] {
        try await score(rows, tops: Array(repeating: top, count: rows.count), history: history)
    }

    /// As `score(_:top:history:)` with each row's own number of contributions.
    func score(_ rows: [[String: FeatureValue]], tops: [Int], history: RowHistory? = nil) async throws -> [Scored] {
        let model = self.model
        let artifact = model.artifact
        let table = try FeatureRows.table(rows, columns: artifact.inputColumns, categorical: artifact.preprocessor.categoricalColumns)
        var branchHistory: BranchHistory?
        if let history, artifact.sequence != nil {
            branchHistory = BranchHistory(
                table: try FeatureRows.table(history.rows, columns: artifact.inputColumns, categorical: artifact.preprocessor.categoricalColumns),
                previous: history.previous)
        }
        let withContributions = tops.contains { $0 > 0 }
        let predictions = try await BlockingWork.run { [branchHistory] in try model.predict(table, contributions: withContributions, history: branchHistory) }
        return zip(predictions, tops).map { prediction, top in
            var reduced = prediction
            reduced.contributions = nil
            guard top > 0, let contributions = prediction.contributions else {
                // The contributions add up to the learner's log-odds; clamped so that a probability
                // rounded to 0 or 1 still has a finite one.
                let raw = min(max(prediction.rawProbability, 1e-12), 1 - 1e-12)
                return Scored(prediction: reduced, top: [], rest: log(raw / (1 - raw)))
            }
            let sorted = contributions.sorted { abs($0.value) != abs($1.value) ? abs($0.value) > abs($1.value) : $0.feature < $1.feature }
            let kept = sorted.prefix(top).map { Contribution(feature: $0.feature, value: Double($0.value)) }
            let rest = sorted.dropFirst(kept.count).reduce(0) { $0 + Double($1.value) }
            return Scored(prediction: reduced, top: kept, rest: rest)
        }
    }
}

/// Scores of single builds that arrive while another such score runs go together into the next
/// one: one preprocessing, one DMatrix and one XGBoost call per booster for all of them, instead
/// of a trip to the blocking pool each. At 50 requests in flight each call used to wait behind
/// the others for one of the pool's two threads.
actor ScoreCoalescer {
    private struct Waiting {
        let served: ServedModel
        let row: [String: FeatureValue]
        /// The build's earlier builds on its branch, oldest first (empty: none given).
        let history: [[String: FeatureValue]]
        let top: Int
        let continuation: CheckedContinuation<Scored, any Error>
    }

    private var waiting: [Waiting] = []
    private var draining = false

    /// `row` scored by `served` (the model the request took), with its `top` contributions; with
    /// its branch `history` the model's sequence model may serve it.
    func score(_ row: [String: FeatureValue], history: [[String: FeatureValue]] = [], with served: ServedModel, top: Int) async throws -> Scored {
        try await withCheckedThrowingContinuation { continuation in
            waiting.append(Waiting(served: served, row: row, history: history, top: top, continuation: continuation))
            if !draining {
                draining = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !waiting.isEmpty {
            var taken = waiting
            waiting = []
            // Each request keeps the model it took, also when a swap happened meanwhile.
            while let first = taken.first {
                let same = taken.filter { $0.served.model === first.served.model }
                taken.removeAll { $0.served.model === first.served.model }
                let history = RowHistory(concatenating: same.map(\.history))
                do {
                    let scored = try await first.served.score(
                        same.map(\.row), tops: same.map(\.top), history: history.rows.isEmpty ? nil : history)
                    for (entry, result) in zip(same, scored) { entry.continuation.resume(returning: result) }
                } catch {
                    for entry in same { entry.continuation.resume(throwing: error) }
                }
            }
        }
        draining = false
    }
}

extension PredictedRisk {
    init(_ level: RiskLevel) {
        switch level {
        case .low: self = .low
        case .medium: self = .medium
        case .high: self = .high
        }
    }
}
