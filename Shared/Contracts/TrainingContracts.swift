/// Methods the training-orchestrator serves for training jobs. Calls that name a job carry the
/// caller's `ownerId` (nil for an admin): a job someone else started is answered as not found.
public enum TrainingMethods {
    public static let start = RPCMethod<StartTrainingParams, TrainingJobRecord>(
        "training.start",
        summary: "Queues a training job (priority urgent > high > normal > low, then oldest first) and answers it with its estimated duration. Bad input is refused and writes nothing."
    )
    public static let list = RPCMethod<ListTrainingJobsParams, TrainingJobPage>(
        "training.list",
        summary: "Training jobs, newest first, filtered by model name, kind and status, with the total that matched."
    )
    public static let get = RPCMethod<TrainingJobRef, TrainingJobRecord>(
        "training.get",
        summary: "One training job: status, progress and phase, the latest metrics, the model version it registered."
    )
    public static let cancel = RPCMethod<TrainingJobRef, TrainingJobRecord>(
        "training.cancel",
        summary: "Cancels a queued or running job; a running training stops between rounds and registers nothing. A finished job is refused (conflict)."
    )
    public static let retry = RPCMethod<TrainingJobRef, TrainingJobRecord>(
        "training.retry",
        summary: "Queues a new job with the configuration of a failed or cancelled one, tagged with the original (retryOf)."
    )
    public static let logs = RPCMethod<TrainingLogsParams, [TrainingLogLine]>(
        "training.logs",
        summary: "A job's log lines, oldest first; with tail, only the last ones."
    )
    public static let stats = RPCMethod<Empty, TrainingStats>(
        "training.stats",
        summary: "Jobs running and queued, the worker capacity of this replica and its utilisation."
    )
}

/// The registry's methods beside `registry.active` (ModelContracts.swift).
public enum ModelRegistryMethods {
    public static let versions = RPCMethod<ModelVersionsParams, [ModelVersionRecord]>(
        "registry.versions",
        summary: "Registered model versions (of one name, or all), newest first, with metrics, parameters, aliases and whether each is active."
    )
    public static let activate = RPCMethod<ModelVersionKey, ActiveModelAnswer>(
        "registry.activate",
        summary: "Makes a version the active one of its name, atomically (exactly one active per name); the predictor is told through the outbox in the same transaction."
    )
    public static let setAlias = RPCMethod<ModelAliasParams, ModelVersionRecord>(
        "registry.setAlias",
        summary: "Points an alias (champion, challenger, any name) of a model name at one of its versions."
    )
    public static let removeAlias = RPCMethod<ModelAliasParams, Empty>(
        "registry.removeAlias",
        summary: "Removes an alias of a model name."
    )
    public static let alias = RPCMethod<ModelAliasParams, ModelVersionRecord>(
        "registry.alias",
        summary: "The version an alias points at (models:/name@alias)."
    )
    public static let deleteVersion = RPCMethod<ModelVersionKey, Empty>(
        "registry.deleteVersion",
        summary: "Deletes a version, its aliases and its files; deleting the active version leaves the name with none active (and tells the predictor)."
    )
}

/// Experiments: what each training saw, tried and measured.
public enum ExperimentMethods {
    public static let list = RPCMethod<ListExperimentsParams, [ExperimentRecord]>(
        "experiments.list",
        summary: "Experiments, newest first, without their metric history."
    )
    public static let get = RPCMethod<ExperimentRef, ExperimentRecord>(
        "experiments.get",
        summary: "One experiment with its metric history per round."
    )
    public static let compare = RPCMethod<CompareExperimentsParams, [ExperimentRecord]>(
        "experiments.compare",
        summary: "Two or more experiments side by side (in the order asked), without their metric history."
    )
}

extension GatewayMethods {
    /// The training-orchestrator reports a job's progress (sent through its outbox).
    public static let trainingUpdate = RPCMethod<TrainingUpdate, Empty>(
        "pipeline.trainingUpdate",
        summary: "A training job moved on (status, progress, phase, the latest round's losses): the gateway pushes it to the job's owner as TRAINING_UPDATE."
    )
}

public enum TrainingJobStatus: String, ContractEnum {
    case queued, running, completed, failed, cancelled
}

public enum TrainingPriority: String, ContractEnum {
    case urgent, high, normal, low
}

/// What to train. Parameters left out take the learning engine's defaults.
public struct TrainingParameters: Codable, Sendable, Equatable {
    /// `xgboost` or `logistic_regression`.
    public var kind: String
    public var rounds: Int?
    public var maxDepth: Int?
    public var learningRate: Double?
    public var l2: Double?
    public var maxIterations: Int?
    /// Models on bootstrap resamples, for each prediction's uncertainty.
    public var bootstrapModels: Int?
    public var seed: Int?
    /// Epochs of the sequence model (a GRU over each build and the 5 previous builds of its
    /// branch), trained beside the main learner to serve the builds with that history; 0 trains
    /// none. Default 8.
    public var sequenceEpochs: Int?
    /// Hidden units of the sequence model's GRU; default 16.
    public var sequenceHidden: Int?
    /// A random search: each trial draws the dimensions' values over these parameters, trains, and
    /// is an experiment; the trial best on validation is registered.
    public var search: SearchSpace?

    public init(kind: String, rounds: Int? = nil, maxDepth: Int? = nil, learningRate: Double? = nil, l2: Double? = nil,
                maxIterations: Int? = nil, bootstrapModels: Int? = nil, seed: Int? = nil, sequenceEpochs: Int? = nil, sequenceHidden: Int? = nil,
                search: SearchSpace? = nil) {
        self.search = search
        self.sequenceEpochs = sequenceEpochs
        self.sequenceHidden = sequenceHidden
        self.kind = kind
        self.rounds = rounds
        self.maxDepth = maxDepth
        self.learningRate = learningRate
        self.l2 = l2
        self.maxIterations = maxIterations
        self.bootstrapModels = bootstrapModels
        self.seed = seed
    }
}

/// A search's space, number of trials and strategy.
public struct SearchSpace: Codable, Sendable, Equatable {
    /// 2–50: configurations drawn.
    public var trials: Int
    public var dimensions: [SearchDimension]
    /// Random search when left out.
    public var strategy: SearchStrategy?

    public init(trials: Int, dimensions: [SearchDimension], strategy: SearchStrategy? = nil) {
        self.trials = trials
        self.dimensions = dimensions
        self.strategy = strategy
    }
}

public enum SearchStrategy: String, ContractEnum {
    /// Every drawn configuration trained on the full budget.
    case random
    /// XGBoost only, rounds not searched: every drawn configuration trained on a small budget of
    /// boosting rounds, the better half on validation kept and trained on twice the rounds, until
    /// one is left, trained on the job's rounds.
    case successiveHalving = "successive_halving"
}

public enum SearchDimensionType: String, ContractEnum {
    /// A whole number drawn uniformly from min...max.
    case int
    /// Uniform in min...max.
    case float
    /// Log-uniform in min...max (both above 0): learning rates, regularisation.
    case logFloat = "log_float"
    /// One of `values`.
    case categorical
}

/// One searched parameter: `rounds`, `maxDepth`, `learningRate`, `l2`, `maxIterations` or `bootstrapModels`.
public struct SearchDimension: Codable, Sendable, Equatable {
    public var name: String
    public var type: SearchDimensionType
    public var min: Double?
    public var max: Double?
    public var values: [Double]?

    public init(name: String, type: SearchDimensionType, min: Double? = nil, max: Double? = nil, values: [Double]? = nil) {
        self.name = name
        self.type = type
        self.min = min
        self.max = max
        self.values = values
    }
}

/// A pipeline whose processed builds a training reads (a gateway repository config).
public struct TrainingRepository: Codable, Sendable, Equatable {
    /// The feature-extractor's pipeline id (the repository config's id).
    public var pipelineId: String
    public var fullName: String

    public init(pipelineId: String, fullName: String) {
        self.pipelineId = pipelineId
        self.fullName = fullName
    }
}

/// The data a training reads: today repositories' feature vectors; later a dataset split.
public struct TrainingDataSpec: Codable, Sendable, Equatable {
    public var repositories: [TrainingRepository]

    public init(repositories: [TrainingRepository]) {
        self.repositories = repositories
    }
}

public struct StartTrainingParams: Codable, Sendable, Equatable {
    public var modelName: String
    public var parameters: TrainingParameters
    public var data: TrainingDataSpec
    public var priority: TrainingPriority
    /// Continue boosting from this version of the same name (XGBoost only).
    public var baseVersion: Int?
    /// The user who starts it.
    public var createdBy: Int64

    public init(modelName: String, parameters: TrainingParameters, data: TrainingDataSpec, priority: TrainingPriority = .normal,
                baseVersion: Int? = nil, createdBy: Int64) {
        self.modelName = modelName
        self.parameters = parameters
        self.data = data
        self.priority = priority
        self.baseVersion = baseVersion
        self.createdBy = createdBy
    }
}

public struct TrainingJobRef: Codable, Sendable, Equatable {
    public var jobId: Int64
    /// The caller, when not an admin: only their own jobs are found.
    public var ownerId: Int64?

    public init(jobId: Int64, ownerId: Int64? = nil) {
        self.jobId = jobId
        self.ownerId = ownerId
    }
}

public struct ListTrainingJobsParams: Codable, Sendable, Equatable {
    public var modelName: String?
    public var kind: String?
    public var status: TrainingJobStatus?
    public var ownerId: Int64?
    public var limit: Int
    public var offset: Int

    public init(modelName: String? = nil, kind: String? = nil, status: TrainingJobStatus? = nil, ownerId: Int64? = nil, limit: Int = 50, offset: Int = 0) {
        self.modelName = modelName
        self.kind = kind
        self.status = status
        self.ownerId = ownerId
        self.limit = limit
        self.offset = offset
    }
}

/// One round's losses (a boosting round or a solver iteration).
public struct RoundLoss: Codable, Sendable, Equatable {
    public var round: Int
    public var trainLoss: Double
    public var validationLoss: Double?

    public init(round: Int, trainLoss: Double, validationLoss: Double?) {
        self.round = round
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
    }
}

public struct TrainingJobRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var modelName: String
    public var kind: String
    public var status: TrainingJobStatus
    public var priority: TrainingPriority
    public var parameters: TrainingParameters
    public var data: TrainingDataSpec
    public var baseVersion: Int?
    /// 0–1.
    public var progress: Double
    /// load, preprocess, train, bootstrap, calibrate, evaluate, register.
    public var phase: String?
    public var estimatedSeconds: Double
    public var latest: RoundLoss?
    public var error: String?
    public var retryOf: Int64?
    public var createdBy: Int64
    /// The version it registered, once completed.
    public var modelVersion: Int?
    public var experimentId: Int64?
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    /// The schedule that queued it, for its due time `scheduledFor`.
    public var scheduleId: Int64?
    public var scheduledFor: String?

    public init(
        id: Int64, modelName: String, kind: String, status: TrainingJobStatus, priority: TrainingPriority, parameters: TrainingParameters,
        data: TrainingDataSpec, baseVersion: Int?, progress: Double, phase: String?, estimatedSeconds: Double, latest: RoundLoss?,
        error: String?, retryOf: Int64?, createdBy: Int64, modelVersion: Int?, experimentId: Int64?, createdAt: String,
        startedAt: String?, finishedAt: String?, scheduleId: Int64? = nil, scheduledFor: String? = nil
    ) {
        self.id = id
        self.modelName = modelName
        self.kind = kind
        self.status = status
        self.priority = priority
        self.parameters = parameters
        self.data = data
        self.baseVersion = baseVersion
        self.progress = progress
        self.phase = phase
        self.estimatedSeconds = estimatedSeconds
        self.latest = latest
        self.error = error
        self.retryOf = retryOf
        self.createdBy = createdBy
        self.modelVersion = modelVersion
        self.experimentId = experimentId
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.scheduleId = scheduleId
        self.scheduledFor = scheduledFor
    }
}

public struct TrainingJobPage: Codable, Sendable, Equatable {
    public var total: Int
    public var jobs: [TrainingJobRecord]

    public init(total: Int, jobs: [TrainingJobRecord]) {
        self.total = total
        self.jobs = jobs
    }
}

public struct TrainingLogsParams: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var ownerId: Int64?
    /// Only the last `tail` lines.
    public var tail: Int?

    public init(jobId: Int64, ownerId: Int64? = nil, tail: Int? = nil) {
        self.jobId = jobId
        self.ownerId = ownerId
        self.tail = tail
    }
}

public struct TrainingLogLine: Codable, Sendable, Equatable {
    /// info, warning, error.
    public var level: String
    public var message: String
    public var at: String

    public init(level: String, message: String, at: String) {
        self.level = level
        self.message = message
        self.at = at
    }
}

public struct TrainingStats: Codable, Sendable, Equatable {
    public var running: Int
    public var queued: Int
    /// Trainings one replica runs at once (TRAINING_WORKERS).
    public var capacity: Int
    /// running / capacity.
    public var utilisation: Double

    public init(running: Int, queued: Int, capacity: Int, utilisation: Double) {
        self.running = running
        self.queued = queued
        self.capacity = capacity
        self.utilisation = utilisation
    }
}

/// A job's progress, pushed to its owner.
public struct TrainingUpdate: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var ownerId: Int64
    public var modelName: String
    public var status: TrainingJobStatus
    public var progress: Double
    public var phase: String?
    public var latest: RoundLoss?
    public var modelVersion: Int?
    public var error: String?

    public init(jobId: Int64, ownerId: Int64, modelName: String, status: TrainingJobStatus, progress: Double, phase: String?,
                latest: RoundLoss?, modelVersion: Int?, error: String?) {
        self.jobId = jobId
        self.ownerId = ownerId
        self.modelName = modelName
        self.status = status
        self.progress = progress
        self.phase = phase
        self.latest = latest
        self.modelVersion = modelVersion
        self.error = error
    }
}

/// Classification metrics of failed builds on one set of builds.
public struct MetricSet: Codable, Sendable, Equatable {
    public var count: Int
    public var failures: Int
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var rocAUC: Double?
    public var prAUC: Double?
    public var brier: Double
    public var threshold: Double
    public var truePositives: Int
    public var falsePositives: Int
    public var trueNegatives: Int
    public var falseNegatives: Int

    public init(count: Int, failures: Int, accuracy: Double, precision: Double, recall: Double, f1: Double, rocAUC: Double?, prAUC: Double?,
                brier: Double, threshold: Double, truePositives: Int, falsePositives: Int, trueNegatives: Int, falseNegatives: Int) {
        self.count = count
        self.failures = failures
        self.accuracy = accuracy
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.rocAUC = rocAUC
        self.prAUC = prAUC
        self.brier = brier
        self.threshold = threshold
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.trueNegatives = trueNegatives
        self.falseNegatives = falseNegatives
    }
}

public struct RepositoryMetrics: Codable, Sendable, Equatable {
    public var repository: String
    public var model: MetricSet
    public var parrot: MetricSet?
    public var beatsParrot: Bool?

    public init(repository: String, model: MetricSet, parrot: MetricSet?, beatsParrot: Bool?) {
        self.repository = repository
        self.model = model
        self.parrot = parrot
        self.beatsParrot = beatsParrot
    }
}

/// A model's final metrics: on validation, on test, Parrot's on the same builds, per repository.
public struct ModelMetrics: Codable, Sendable, Equatable {
    public var validation: MetricSet
    public var test: MetricSet?
    public var parrot: MetricSet?
    /// Nil when Parrot could not be evaluated; false says the model did not beat it.
    public var beatsParrot: Bool?
    public var repositories: [RepositoryMetrics]
    /// The sequence model, when the version has one: on the builds it serves, and the mix served.
    public var sequence: SequenceMetrics?

    public init(
        validation: MetricSet, test: MetricSet?, parrot: MetricSet?, beatsParrot: Bool?, repositories: [RepositoryMetrics],
        sequence: SequenceMetrics? = nil
    ) {
        self.validation = validation
        self.test = test
        self.parrot = parrot
        self.beatsParrot = beatsParrot
        self.repositories = repositories
        self.sequence = sequence
    }
}

/// A version's sequence model, measured on the test builds (validation without a test set).
public struct SequenceMetrics: Codable, Sendable, Equatable {
    /// Test builds, and those of them with 5 earlier builds on their branch: the sequence model serves these.
    public var evaluatedCount: Int
    public var servedCount: Int
    /// On the served builds: the sequence model, the fallback classifier, Parrot (nil without such builds).
    public var sequence: MetricSet?
    public var fallback: MetricSet?
    public var parrot: MetricSet?
    /// Nil when Parrot could not be measured on them; false says the sequence model did not beat it.
    public var beatsParrot: Bool?
    /// Every test build by the model that serves it (the fallback alone when not adopted).
    public var served: MetricSet
    /// Whether the version serves with it: only when it ranked the validation builds it would serve
    /// better than the fallback (ROC AUCs below); otherwise the fallback serves every build.
    public var adopted: Bool
    public var validationROCAUC: Double?
    public var validationFallbackROCAUC: Double?

    public init(
        evaluatedCount: Int, servedCount: Int, sequence: MetricSet?, fallback: MetricSet?, parrot: MetricSet?, beatsParrot: Bool?,
        served: MetricSet, adopted: Bool, validationROCAUC: Double?, validationFallbackROCAUC: Double?
    ) {
        self.adopted = adopted
        self.validationROCAUC = validationROCAUC
        self.validationFallbackROCAUC = validationFallbackROCAUC
        self.evaluatedCount = evaluatedCount
        self.servedCount = servedCount
        self.sequence = sequence
        self.fallback = fallback
        self.parrot = parrot
        self.beatsParrot = beatsParrot
        self.served = served
    }
}

/// What a model saw: which builds, from when to when, under which feature DAG, with which inputs.
public struct TrainingDataSummary: Codable, Sendable, Equatable {
    public var repositories: [String]
    /// The oldest and newest build's start time (ISO 8601).
    public var from: String?
    public var to: String?
    /// Labelled builds used, and how many went to each split.
    public var buildCount: Int
    public var trainingCount: Int
    public var validationCount: Int
    public var testCount: Int
    /// Builds left out: a conclusion that is neither failed nor passed (cancelled, skipped, …),
    /// or an extraction that failed.
    public var excludedCount: Int
    public var dagVersion: String?
    /// The input features (pre-build only).
    public var features: [String]

    public init(repositories: [String], from: String?, to: String?, buildCount: Int, trainingCount: Int, validationCount: Int, testCount: Int,
                excludedCount: Int, dagVersion: String?, features: [String]) {
        self.repositories = repositories
        self.from = from
        self.to = to
        self.buildCount = buildCount
        self.trainingCount = trainingCount
        self.validationCount = validationCount
        self.testCount = testCount
        self.excludedCount = excludedCount
        self.dagVersion = dagVersion
        self.features = features
    }
}

public struct ExperimentRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var jobId: Int64
    public var modelName: String
    public var kind: String
    public var parameters: TrainingParameters
    public var metrics: ModelMetrics
    public var data: TrainingDataSummary
    /// Per round; left out of lists and comparisons.
    public var history: [RoundLoss]?
    public var modelVersion: Int?
    public var trainingSeconds: Double
    public var createdBy: Int64
    public var createdAt: String

    public init(id: Int64, jobId: Int64, modelName: String, kind: String, parameters: TrainingParameters, metrics: ModelMetrics,
                data: TrainingDataSummary, history: [RoundLoss]?, modelVersion: Int?, trainingSeconds: Double, createdBy: Int64, createdAt: String) {
        self.id = id
        self.jobId = jobId
        self.modelName = modelName
        self.kind = kind
        self.parameters = parameters
        self.metrics = metrics
        self.data = data
        self.history = history
        self.modelVersion = modelVersion
        self.trainingSeconds = trainingSeconds
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

public struct ListExperimentsParams: Codable, Sendable, Equatable {
    public var modelName: String?
    public var ownerId: Int64?
    public var limit: Int

    public init(modelName: String? = nil, ownerId: Int64? = nil, limit: Int = 50) {
        self.modelName = modelName
        self.ownerId = ownerId
        self.limit = limit
    }
}

public struct ExperimentRef: Codable, Sendable, Equatable {
    public var experimentId: Int64
    public var ownerId: Int64?

    public init(experimentId: Int64, ownerId: Int64? = nil) {
        self.experimentId = experimentId
        self.ownerId = ownerId
    }
}

public struct CompareExperimentsParams: Codable, Sendable, Equatable {
    public var experimentIds: [Int64]
    public var ownerId: Int64?

    public init(experimentIds: [Int64], ownerId: Int64? = nil) {
        self.experimentIds = experimentIds
        self.ownerId = ownerId
    }
}

public struct ModelVersionsParams: Codable, Sendable, Equatable {
    public var modelName: String?

    public init(modelName: String? = nil) {
        self.modelName = modelName
    }
}

public struct ModelVersionKey: Codable, Sendable, Equatable {
    public var modelName: String
    public var version: Int

    public init(modelName: String, version: Int) {
        self.modelName = modelName
        self.version = version
    }
}

public struct ModelAliasParams: Codable, Sendable, Equatable {
    public var modelName: String
    public var alias: String
    /// The version to point at (setAlias only).
    public var version: Int?

    public init(modelName: String, alias: String, version: Int? = nil) {
        self.modelName = modelName
        self.alias = alias
        self.version = version
    }
}

/// A registered model version.
public struct ModelVersionRecord: Codable, Sendable, Equatable {
    public var modelName: String
    public var version: Int
    public var kind: String
    public var active: Bool
    public var aliases: [String]
    public var metrics: ModelMetrics
    public var parameters: TrainingParameters
    public var trainingSeconds: Double
    public var baseVersion: Int?
    public var createdBy: Int64
    public var artifactPath: String
    public var dagVersion: String?
    public var jobId: Int64?
    public var experimentId: Int64?
    public var createdAt: String

    public init(modelName: String, version: Int, kind: String, active: Bool, aliases: [String], metrics: ModelMetrics, parameters: TrainingParameters,
                trainingSeconds: Double, baseVersion: Int?, createdBy: Int64, artifactPath: String, dagVersion: String?, jobId: Int64?,
                experimentId: Int64?, createdAt: String) {
        self.modelName = modelName
        self.version = version
        self.kind = kind
        self.active = active
        self.aliases = aliases
        self.metrics = metrics
        self.parameters = parameters
        self.trainingSeconds = trainingSeconds
        self.baseVersion = baseVersion
        self.createdBy = createdBy
        self.artifactPath = artifactPath
        self.dagVersion = dagVersion
        self.jobId = jobId
        self.experimentId = experimentId
        self.createdAt = createdAt
    }
}
