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
    public func score(_ rows: [[String: FeatureValue]], top: Int) async throws -> [Scored] {
        let model = self.model
        let artifact = model.artifact
        let table = try FeatureRows.table(rows, columns: artifact.inputColumns, categorical: artifact.preprocessor.categoricalColumns)
        let predictions = try await BlockingWork.run { try model.predict(table, contributions: true) }
        return predictions.map { prediction in
            let all = (prediction.contributions ?? []).map { Contribution(feature: $0.feature, value: Double($0.value)) }
            let sorted = all.sorted { abs($0.value) != abs($1.value) ? abs($0.value) > abs($1.value) : $0.feature < $1.feature }
            let kept = Array(sorted.prefix(max(top, 0)))
            let rest = sorted.dropFirst(kept.count).reduce(0) { $0 + $1.value }
            var reduced = prediction
            reduced.contributions = nil
            return Scored(prediction: reduced, top: kept, rest: rest)
        }
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
