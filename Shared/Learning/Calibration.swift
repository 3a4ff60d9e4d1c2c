import Foundation

/// Platt scaling: p' = σ(a·logit(p) + b), fitted on the validation set. Chosen over isotonic
/// regression because two parameters stay stable on the few hundred validation builds a small
/// repository has, and the map is monotone, so it never reorders builds (ROC AUC is unchanged).
public struct PlattCalibration: Codable, Sendable, Equatable {
    public var a: Double
    public var b: Double

    public static let identity = PlattCalibration(a: 1, b: 0)

    public init(a: Double, b: Double) {
        self.a = a
        self.b = b
    }

    public static func fit(probabilities: [Double], failed: [Bool]) throws -> PlattCalibration {
        let logits = try FeatureMatrix(rowCount: probabilities.count, columnNames: ["logit"], values: probabilities.map { Float(logit($0)) })
        let fitted = try LogisticRegression.fit(try LabeledMatrix(features: logits, failed: failed), parameters: .init(l2: 1e-6))
        return PlattCalibration(a: fitted.weights[0], b: fitted.intercept)
    }

    public func apply(_ probability: Double) -> Double {
        sigmoid(a * Self.logit(probability) + b)
    }

    static func logit(_ p: Double) -> Double {
        let clamped = min(max(p, 1e-7), 1 - 1e-7)
        return log(clamped / (1 - clamped))
    }
}

/// LOW / MEDIUM / HIGH, as the predictor reports a build's risk.
public enum RiskLevel: String, Codable, Sendable, CaseIterable {
    case low = "LOW"
    case medium = "MEDIUM"
    case high = "HIGH"
}

/// Probability cut-offs chosen on the validation set and saved with the model.
///
/// `high` is the calibrated probability that maximises F1 of failed builds on validation (the
/// point where an alert is most worth its noise); `medium` is the highest cut-off, at most `high`,
/// that still catches `mediumRecall` (90 %) of the validation failures, so LOW means "very few
/// failures hide here".
public struct RiskThresholds: Codable, Sendable, Equatable {
    public var medium: Double
    public var high: Double

    public static let mediumRecall = 0.9

    public init(medium: Double, high: Double) {
        self.medium = medium
        self.high = high
    }

    public func level(_ probability: Double) -> RiskLevel {
        probability >= high ? .high : probability >= medium ? .medium : .low
    }

    public static func choose(probabilities: [Double], failed: [Bool]) throws(LearningError) -> RiskThresholds {
        let positives = failed.filter { $0 }.count
        guard positives > 0, positives < failed.count else {
            throw .invalidInput("the validation set needs failed and passed builds to choose risk thresholds")
        }
        let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
        var truePositives = 0
        var bestF1 = -1.0, high = 0.5
        var medium: Double?
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && probabilities[order[end + 1]] == probabilities[order[start]] { end += 1 }
            for i in start...end where failed[order[i]] { truePositives += 1 }
            let cut = probabilities[order[start]]
            let precision = Double(truePositives) / Double(end + 1)
            let recall = Double(truePositives) / Double(positives)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            if f1 > bestF1 { bestF1 = f1; high = cut }
            if medium == nil && recall >= mediumRecall { medium = cut }
            start = end + 1
        }
        return RiskThresholds(medium: min(medium ?? high, high), high: high)
    }
}
