import Foundation

/// Which learner a model uses.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    case xgboost
    case logisticRegression = "logistic_regression"
}

/// What the trainer is asked to do; saved in the artifact so a retrain repeats it.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    public var kind: ModelKind
    public var xgboost: XGBoostParameters
    public var logistic: LogisticRegression.Parameters
    /// Models trained on bootstrap resamples of the training rows; the spread of their
    /// probabilities is each prediction's uncertainty. 0 disables it.
    public var bootstrapModels: Int
    public var seed: UInt64
    /// The sequence model trained beside the main learner (the training rows need their branches);
    /// nil trains none.
    public var sequence: SequenceConfiguration?

    public init(
        kind: ModelKind,
        xgboost: XGBoostParameters = XGBoostParameters(),
        logistic: LogisticRegression.Parameters = .init(),
        bootstrapModels: Int = 5,
        seed: UInt64 = 1,
        sequence: SequenceConfiguration? = nil
    ) {
        self.kind = kind
        self.xgboost = xgboost
        self.logistic = logistic
        self.bootstrapModels = bootstrapModels
        self.seed = seed
        self.sequence = sequence
    }
}

/// A model's measured quality, with the Parrot baseline on the same builds when branches were given.
public struct Evaluation: Codable, Sendable, Equatable {
    /// Calibrated probabilities on the validation rows.
    public var validation: ClassificationMetrics
    public var test: ClassificationMetrics?
    /// Parrot on the test rows (or on validation when there is no test set).
    public var parrot: ClassificationMetrics?
    /// Losses per boosting round / solver iteration of the main model.
    public var history: [RoundMetrics]
    /// The test (or validation) rows split by repository, when repositories were given.
    public var repositories: [RepositoryEvaluation] = []
    /// The sequence model on the builds it serves, and the served mix, when one was trained.
    public var sequence: SequenceEvaluation?

    /// Whether the model beats Parrot on ROC AUC and on F1 of failed builds where Parrot was measured.
    public var beatsParrot: Bool? {
        parrot.map { Self.beats(test ?? validation, $0) }
    }

    static func beats(_ model: ClassificationMetrics, _ parrot: ClassificationMetrics) -> Bool {
        (model.rocAUC ?? 0) > (parrot.rocAUC ?? 0) && model.f1 > parrot.f1
    }
}

/// One repository's share of an evaluation: says so when the model does not beat Parrot there.
public struct RepositoryEvaluation: Codable, Sendable, Equatable {
    public var repository: String
    public var model: ClassificationMetrics
    public var parrot: ClassificationMetrics?

    public var beatsParrot: Bool? { parrot.map { Evaluation.beats(model, $0) } }
}

/// Everything needed to predict again: the learner, its preprocessing, calibration, risk
/// thresholds, metrics, and the data it saw. Codable as a whole (the XGBoost models travel as
/// base64 then); `save(to:)` writes them as XGBoost's own JSON files beside an `artifact.json`.
public struct ModelArtifact: Codable, Sendable {
    public static let currentFormat = 1

    public var format: Int
    public var kind: ModelKind
    public var configuration: TrainingConfiguration
    /// The raw feature columns the model reads (FeatureTable column names).
    public var inputColumns: [String]
    /// The matrix columns after preprocessing, which contributions are named after.
    public var featureNames: [String]
    public var preprocessor: Preprocessor
    public var calibration: PlattCalibration
    public var thresholds: RiskThresholds
    public var evaluation: Evaluation
    public var trainingRows: Int
    public var trainingSeconds: Double
    /// Boosting rounds taken over from a base model (warm start); 0 for a fresh model.
    public var baseRounds: Int
    /// XGBoost's JSON model, for `.xgboost`.
    public var xgboostModel: Data?
    /// The XGBoost bootstrap members' JSON models, for `.xgboost`.
    public var xgboostEnsemble: [Data]
    /// For `.logisticRegression`.
    public var logistic: LogisticRegression?
    public var logisticEnsemble: [LogisticRegression]
    /// The sequence model serving builds with a full branch history, when one was trained.
    public var sequence: SequenceMember?

    static let artifactFile = "artifact.json"
    static let modelFile = "xgboost.json"
    static func memberFile(_ index: Int) -> String { "bootstrap-\(index).json" }

    /// Writes `artifact.json` and, for XGBoost, `xgboost.json` (loadable by Python's xgboost) and
    /// one `bootstrap-N.json` per ensemble member into `directory`, creating it.
    public func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var manifest = self
        manifest.xgboostModel = nil
        manifest.xgboostEnsemble = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        if let xgboostModel { try xgboostModel.write(to: directory.appending(path: Self.modelFile), options: .atomic) }
        for (index, member) in xgboostEnsemble.enumerated() {
            try member.write(to: directory.appending(path: Self.memberFile(index)), options: .atomic)
        }
        // Last, so a directory with an artifact.json always has its model files.
        try encoder.encode(manifest).write(to: directory.appending(path: Self.artifactFile), options: .atomic)
    }

    /// Reads what `save(to:)` wrote.
    public static func load(from directory: URL) throws -> ModelArtifact {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var artifact: ModelArtifact
        do {
            artifact = try decoder.decode(ModelArtifact.self, from: Data(contentsOf: directory.appending(path: artifactFile)))
        } catch {
            throw LearningError.unreadableArtifact("\(directory.path)/\(artifactFile): \(error)")
        }
        guard artifact.format <= currentFormat else {
            throw LearningError.unreadableArtifact("format \(artifact.format) is newer than this build reads (\(currentFormat))")
        }
        if artifact.kind == .xgboost {
            do {
                artifact.xgboostModel = try Data(contentsOf: directory.appending(path: modelFile))
                artifact.xgboostEnsemble = try (0..<artifact.configuration.bootstrapModels).map {
                    try Data(contentsOf: directory.appending(path: memberFile($0)))
                }
            } catch {
                throw LearningError.unreadableArtifact("\(directory.path): \(error)")
            }
        }
        return artifact
    }
}
