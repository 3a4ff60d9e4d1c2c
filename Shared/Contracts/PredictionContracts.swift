/// Methods the predictor serves besides the registry's `predictions.activeModelChanged`.
public enum PredictionMethods {
    public static let predict = RPCMethod<PredictRequest, PredictAccepted>(
        "predictions.predict",
        summary: "Queues prediction of a pipeline's extracted builds (completed or partial vectors) that have no prediction yet, in batches of 50 with the active model; with no active model they stay pending with the reason. Idempotent per request."
    )
    public static let repredict = RPCMethod<PredictionPipelineParams, PredictAccepted>(
        "predictions.repredict",
        summary: "Queues a new prediction of every extracted build of a pipeline with the active model; earlier predictions stay in the history with the version that made them."
    )
    public static let retryFailed = RPCMethod<PredictionPipelineParams, PredictAccepted>(
        "predictions.retryFailed",
        summary: "Queues prediction of the builds of a pipeline whose prediction failed."
    )
    public static let forget = RPCMethod<PredictionPipelineParams, PredictionForgetResult>(
        "predictions.forget",
        summary: "Deletes a pipeline's predictions and their history (its record was deleted)."
    )
    public static let list = RPCMethod<PredictionListParams, PredictionPage>(
        "predictions.list",
        summary: "A pipeline's current predictions (the latest per build), newest run first, paged by run id, optionally only some runs or one risk level, with counts by status and level."
    )
    public static let get = RPCMethod<PredictionBuildParams, PredictionHistory>(
        "predictions.get",
        summary: "One build's current prediction with its contributions, and every earlier prediction of it (newest first) with the model version that made it."
    )
    public static let score = RPCMethod<ScoreRequest, ScoreAnswer>(
        "predictions.score",
        summary: "Scores builds on the spot with the active model, without storing: one to 1,000 posted feature vectors, or a pipeline's build by run id (its stored vector). Answers the model version, the features used and the top contributions."
    )
}

extension GatewayMethods {
    /// The predictor reports how a pipeline's prediction is going (sent through its outbox).
    public static let predictionProgress = RPCMethod<PredictionProgress, Empty>(
        "pipeline.predictionProgress",
        summary: "Records a pipeline's prediction progress (counts by prediction status and risk level, the builds predicted since the last report); a report older (by sequence) than the one recorded is ignored."
    )
}

public struct PredictRequest: Codable, Sendable, Equatable {
    public var pipelineId: String
    /// Unique per request; a redelivered request queues nothing new.
    public var requestId: String

    public init(pipelineId: String, requestId: String) {
        self.pipelineId = pipelineId
        self.requestId = requestId
    }
}

public struct PredictAccepted: Codable, Sendable, Equatable {
    public var pipelineId: String
    /// False when the request was a redelivery and nothing new was queued.
    public var queued: Bool

    public init(pipelineId: String, queued: Bool) {
        self.pipelineId = pipelineId
        self.queued = queued
    }
}

public struct PredictionPipelineParams: Codable, Sendable, Equatable {
    public var pipelineId: String

    public init(pipelineId: String) {
        self.pipelineId = pipelineId
    }
}

public struct PredictionForgetResult: Codable, Sendable, Equatable {
    public var predictionsDeleted: Int

    public init(predictionsDeleted: Int) {
        self.predictionsDeleted = predictionsDeleted
    }
}

/// A build's prediction status.
public enum PredictionStatus: String, ContractEnum {
    /// Waiting: `pendingReason` says for what (e.g. "no active model").
    case pending
    case inProgress = "in_progress"
    case completed
    case failed
}

/// The risk levels a model assigns (BuildRiskLearning's `RiskLevel` raw values).
public enum PredictedRisk: String, ContractEnum {
    case low = "LOW"
    case medium = "MEDIUM"
    case high = "HIGH"
}

/// One feature's push on a score, in log-odds before calibration (SHAP for XGBoost, weight ×
/// value for logistic regression); the model's bias is named "(bias)".
public struct Contribution: Codable, Sendable, Equatable {
    public var feature: String
    public var value: Double

    public init(feature: String, value: Double) {
        self.feature = feature
        self.value = value
    }
}

/// A build's prediction as stored.
public struct PredictionRecord: Codable, Sendable, Equatable {
    public var runId: Int64
    public var status: PredictionStatus
    /// Why a pending prediction waits.
    public var pendingReason: String?
    /// Why a prediction failed.
    public var error: String?
    public var riskLevel: PredictedRisk?
    /// Calibrated probability that the build fails.
    public var score: Double?
    /// Standard deviation of the score over the model's bootstrap ensemble, when it has one.
    public var uncertainty: Double?
    public var modelName: String?
    public var modelVersion: Int?
    /// The learner that served it (`xgboost`, `logistic_regression`).
    public var servedBy: String?
    /// The largest contributions by magnitude (only in `predictions.get`).
    public var contributions: [Contribution]?
    public var predictedAt: String?

    public init(
        runId: Int64, status: PredictionStatus, pendingReason: String? = nil, error: String? = nil, riskLevel: PredictedRisk? = nil,
        score: Double? = nil, uncertainty: Double? = nil, modelName: String? = nil, modelVersion: Int? = nil, servedBy: String? = nil,
        contributions: [Contribution]? = nil, predictedAt: String? = nil
    ) {
        self.runId = runId
        self.status = status
        self.pendingReason = pendingReason
        self.error = error
        self.riskLevel = riskLevel
        self.score = score
        self.uncertainty = uncertainty
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.servedBy = servedBy
        self.contributions = contributions
        self.predictedAt = predictedAt
    }
}

/// Counts of a pipeline's builds by prediction status, and of the completed ones by risk level.
public struct PredictionCounts: Codable, Sendable, Equatable {
    public var total: Int
    public var pending: Int
    public var completed: Int
    public var failed: Int
    public var low: Int
    public var medium: Int
    public var high: Int

    public init(total: Int = 0, pending: Int = 0, completed: Int = 0, failed: Int = 0, low: Int = 0, medium: Int = 0, high: Int = 0) {
        self.total = total
        self.pending = pending
        self.completed = completed
        self.failed = failed
        self.low = low
        self.medium = medium
        self.high = high
    }
}

public struct PredictionListParams: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var limit: Int
    public var beforeRunId: Int64?
    /// Only these runs (at most 1,000).
    public var runIds: [Int64]?
    public var riskLevel: PredictedRisk?

    public init(pipelineId: String, limit: Int, beforeRunId: Int64? = nil, runIds: [Int64]? = nil, riskLevel: PredictedRisk? = nil) {
        self.pipelineId = pipelineId
        self.limit = limit
        self.beforeRunId = beforeRunId
        self.runIds = runIds
        self.riskLevel = riskLevel
    }
}

public struct PredictionPage: Codable, Sendable, Equatable {
    public var counts: PredictionCounts
    public var predictions: [PredictionRecord]

    public init(counts: PredictionCounts, predictions: [PredictionRecord]) {
        self.counts = counts
        self.predictions = predictions
    }
}

public struct PredictionBuildParams: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var runId: Int64

    public init(pipelineId: String, runId: Int64) {
        self.pipelineId = pipelineId
        self.runId = runId
    }
}

public struct PredictionHistory: Codable, Sendable, Equatable {
    /// Nil when the build was never considered.
    public var current: PredictionRecord?
    /// Every completed prediction of the build, newest first (the current one included).
    public var history: [PredictionRecord]

    public init(current: PredictionRecord?, history: [PredictionRecord]) {
        self.current = current
        self.history = history
    }
}

/// What to score: posted vectors, a pipeline's build by run id, or a pipeline's planned build (a
/// commit not built yet, its features computed on the spot).
public struct ScoreRequest: Codable, Sendable, Equatable {
    /// Feature name → value; a feature the model reads that is absent counts as missing.
    public var vectors: [[String: FeatureValue]]?
    public var pipelineId: String?
    public var runId: Int64?
    /// With `vectors`, one per vector: the features of the build's earlier builds on its branch,
    /// oldest first. A build with 5 of them is served by the model's sequence model.
    public var histories: [[[String: FeatureValue]]]?
    /// With `pipelineId`: a build that has not run.
    public var build: PlannedBuild?
    /// How many contributions to answer per build (largest magnitude first); default 10.
    public var topContributions: Int?

    public init(
        vectors: [[String: FeatureValue]]? = nil, histories: [[[String: FeatureValue]]]? = nil, pipelineId: String? = nil, runId: Int64? = nil,
        build: PlannedBuild? = nil, topContributions: Int? = nil
    ) {
        self.vectors = vectors
        self.histories = histories
        self.pipelineId = pipelineId
        self.runId = runId
        self.build = build
        self.topContributions = topContributions
    }
}

/// One scored build.
public struct BuildScore: Codable, Sendable, Equatable {
    public var runId: Int64?
    public var riskLevel: PredictedRisk
    /// Calibrated probability of failure.
    public var score: Double
    /// The learner's probability before calibration: sigmoid(sum of every contribution).
    public var rawProbability: Double
    public var uncertainty: Double?
    /// The largest contributions by magnitude, "(bias)" among them when it is one of the largest.
    public var contributions: [Contribution]
    /// The sum of the contributions left out, so that the listed ones plus this give the log-odds.
    public var otherContributions: Double
    /// The model that scored it: `gru` (the sequence model, for a build with 5 earlier builds on
    /// its branch; it answers no contributions) or the fallback classifier (`xgboost`, `logistic_regression`).
    public var servedBy: String

    public init(
        runId: Int64?, riskLevel: PredictedRisk, score: Double, rawProbability: Double, uncertainty: Double?, contributions: [Contribution],
        otherContributions: Double, servedBy: String
    ) {
        self.servedBy = servedBy
        self.runId = runId
        self.riskLevel = riskLevel
        self.score = score
        self.rawProbability = rawProbability
        self.uncertainty = uncertainty
        self.contributions = contributions
        self.otherContributions = otherContributions
    }
}

public struct ScoreAnswer: Codable, Sendable, Equatable {
    public var model: ModelVersionRef
    /// The raw features the model read (pre-build features only).
    public var featuresUsed: [String]
    public var scores: [BuildScore]
    /// For a planned build: the features computed for it and the history they saw.
    public var computed: ComputedFeatures?

    public init(model: ModelVersionRef, featuresUsed: [String], scores: [BuildScore], computed: ComputedFeatures? = nil) {
        self.model = model
        self.featuresUsed = featuresUsed
        self.scores = scores
        self.computed = computed
    }
}

/// Where a pipeline's prediction stands (the predictor reports it through its outbox).
public enum PredictionPhase: String, ContractEnum {
    case predicting
    /// Every extracted build has a prediction or failed.
    case predicted
    /// Builds wait for a model: `message` says "no active model".
    case waiting
    case failed
}

/// A build whose prediction ended (or is pending), as a report carries it.
public struct PredictedBuild: Codable, Sendable, Equatable {
    public var runId: Int64
    public var status: PredictionStatus
    public var riskLevel: PredictedRisk?
    public var score: Double?
    public var modelVersion: Int?

    public init(runId: Int64, status: PredictionStatus, riskLevel: PredictedRisk? = nil, score: Double? = nil, modelVersion: Int? = nil) {
        self.runId = runId
        self.status = status
        self.riskLevel = riskLevel
        self.score = score
        self.modelVersion = modelVersion
    }
}

/// The predictor's report on a pipeline's prediction; numbered like the other reports.
public struct PredictionProgress: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var sequence: Int
    public var phase: PredictionPhase
    public var counts: PredictionCounts
    public var message: String?
    /// The model serving the pipeline when the report was made, if any.
    public var model: ModelVersionRef?
    /// Builds predicted since the previous report (at most 1,000).
    public var predicted: [PredictedBuild]

    public init(
        pipelineId: String, sequence: Int, phase: PredictionPhase, counts: PredictionCounts, message: String? = nil, model: ModelVersionRef? = nil,
        predicted: [PredictedBuild] = []
    ) {
        self.pipelineId = pipelineId
        self.sequence = sequence
        self.phase = phase
        self.counts = counts
        self.message = message
        self.model = model
        self.predicted = predicted
    }
}
