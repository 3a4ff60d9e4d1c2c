import Foundation

/// One feature's push on a prediction, in log-odds before calibration.
public struct FeatureContribution: Codable, Sendable, Equatable {
    public var feature: String
    public var value: Float
}

/// A build's predicted risk.
public struct RiskPrediction: Codable, Sendable, Equatable {
    /// Calibrated probability that the build fails.
    public var failureProbability: Double
    /// The learner's own probability before calibration.
    public var rawProbability: Double
    public var level: RiskLevel
    /// Standard deviation of the calibrated probability over the bootstrap ensemble; nil without one.
    public var uncertainty: Double?
    /// Per-feature contributions (SHAP for XGBoost, weight × value for logistic regression), the
    /// bias last as "(bias)"; only when asked for, and never for the sequence model (a GRU has no
    /// additive per-feature split of its score).
    public var contributions: [FeatureContribution]?
    /// The sequence model for a build with a full branch history, else the main learner.
    public var servedBy: ServingModel
}

/// A loaded model, ready to predict; safe to share between tasks. Predicting is blocking C work
/// for XGBoost: run it off the concurrency pool.
public final class RiskModel: Sendable {
    public let artifact: ModelArtifact
    private let learner: Learner
    private let ensemble: [Learner]

    enum Learner: Sendable {
        case xgboost(XGBoostBooster)
        case logistic(LogisticRegression)

        /// `data` is the matrix as one XGBoost DMatrix, shared by every booster of a call.
        func predict(_ matrix: FeatureMatrix, _ data: XGBoostData? = nil) throws -> [Double] {
            switch self {
            case .xgboost(let booster): try data.map { try booster.predict($0) } ?? booster.predict(matrix)
            case .logistic(let model): try model.predict(matrix)
            }
        }

        func contributions(_ matrix: FeatureMatrix, _ data: XGBoostData? = nil) throws -> [[Float]] {
            switch self {
            case .xgboost(let booster):
                try data.map { try booster.contributions($0, rowCount: matrix.rowCount, columnCount: matrix.columnCount) }
                    ?? booster.contributions(matrix)
            case .logistic(let model): try model.contributions(matrix)
            }
        }
    }

    public init(artifact: ModelArtifact) throws {
        self.artifact = artifact
        switch artifact.kind {
        case .xgboost:
            guard let json = artifact.xgboostModel else { throw LearningError.unreadableArtifact("an XGBoost artifact without its model") }
            learner = .xgboost(try XGBoostBooster(modelJSON: json))
            ensemble = try artifact.xgboostEnsemble.map { .xgboost(try XGBoostBooster(modelJSON: $0)) }
        case .logisticRegression:
            guard let model = artifact.logistic else { throw LearningError.unreadableArtifact("a logistic-regression artifact without its weights") }
            learner = .logistic(model)
            ensemble = artifact.logisticEnsemble.map { .logistic($0) }
        }
    }

    init(artifact: ModelArtifact, learner: Learner, ensemble: [Learner]) {
        self.artifact = artifact
        self.learner = learner
        self.ensemble = ensemble
    }

    /// Preprocesses `table` with the training-time statistics and predicts every row. With a
    /// `history` and a sequence model, a row with a full branch history is served by it.
    public func predict(_ table: FeatureTable, contributions: Bool = false, history: BranchHistory? = nil) throws -> [RiskPrediction] {
        var predictions = try predict(matrix: artifact.preprocessor.transform(table), contributions: contributions)
        guard let sequence = artifact.sequence, let history else { return predictions }
        guard history.previous.count == table.rowCount else {
            throw LearningError.invalidInput("\(table.rowCount) rows but \(history.previous.count) branch histories")
        }
        let rows = history.previous.indices.filter { history.previous[$0].count >= sequence.minimumHistory }
        guard !rows.isEmpty else { return predictions }
        let pre = sequence.preprocessor
        let sequences = try BranchSequences(
            try pre.transform(table.rows(rows)), previous: rows.map { history.previous[$0] }, in: try pre.transform(history.table),
            length: sequence.length)
        let (raw, probabilities, uncertainties) = try sequence.predict(sequences)
        for (index, row) in rows.enumerated() {
            predictions[row] = RiskPrediction(
                failureProbability: probabilities[index], rawProbability: raw[index],
                level: sequence.thresholds.level(probabilities[index]), uncertainty: uncertainties[index], contributions: nil, servedBy: .gru)
        }
        return predictions
    }

    /// Predicts rows that are already preprocessed (columns = `artifact.featureNames`).
    public func predict(matrix: FeatureMatrix, contributions withContributions: Bool = false) throws -> [RiskPrediction] {
        guard matrix.columnNames == artifact.featureNames else {
            throw LearningError.invalidInput("the matrix columns differ from the model's features")
        }
        var data: XGBoostData?
        if case .xgboost = learner { data = try XGBoostData(matrix) }
        let raw = try learner.predict(matrix, data)
        let calibration = artifact.calibration
        let members = try ensemble.map { try $0.predict(matrix, data).map(calibration.apply) }
        let contributions = withContributions ? try learner.contributions(matrix, data) : nil
        let names = artifact.featureNames + ["(bias)"]
        let servedBy = ServingModel(artifact.kind)
        return raw.indices.map { row in
            let probability = calibration.apply(raw[row])
            return RiskPrediction(
                failureProbability: probability,
                rawProbability: raw[row],
                level: artifact.thresholds.level(probability),
                uncertainty: members.count > 1 ? standardDeviation(members.map { $0[row] }) : nil,
                contributions: contributions.map { zip(names, $0[row]).map { FeatureContribution(feature: $0, value: $1) } },
                servedBy: servedBy
            )
        }
    }
}
