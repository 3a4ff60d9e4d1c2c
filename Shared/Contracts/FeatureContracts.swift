/// Methods the feature-extractor serves.
public enum FeatureMethods {
    public static let process = RPCMethod<ProcessFeaturesRequest, ProcessFeaturesAccepted>(
        "features.process",
        summary: "Queues feature extraction of a pipeline's ingested builds, strictly oldest to newest, from the pipeline's checkpoint on (builds already extracted under the same DAG version are kept). Idempotent per request."
    )
    public static let vectors = RPCMethod<FeatureVectorsParams, FeatureVectorPage>(
        "features.vectors",
        summary: "A pipeline's feature vectors, newest run first, paged by run id, with the pipeline's counts by extraction status (with runId: that run's vector and its own counts)."
    )
    public static let reprocessFailed = RPCMethod<FeaturePipelineParams, ProcessFeaturesAccepted>(
        "features.reprocessFailed",
        summary: "Extracts again the builds of a pipeline whose extraction failed."
    )
    public static let catalogue = RPCMethod<Empty, FeatureCatalogueText>(
        "features.catalogue",
        summary: "The feature catalogue (every declared feature: category, type, dependencies, resources, definition, source, pre/post-build) as the JSON document contracts/features.json holds."
    )
    public static let resolve = RPCMethod<FeatureSelectionParams, ResolvedFeatureSelection>(
        "features.resolve",
        summary: "Expands a feature selection (names and wildcards) with its dependencies and derives what must be ingested for it; an unknown name or a pattern that matches nothing is invalid input."
    )
    public static let compute = RPCMethod<ComputeFeaturesParams, ComputedFeatures>(
        "features.compute",
        summary: "Computes a pipeline's pre-build features for a build that has not run: a commit triggered now on a branch and workflow, after every build extracted so far. The ingestor fetches the commit when the clone lacks it. Nothing is stored."
    )
    public static let forget = RPCMethod<FeaturePipelineParams, FeatureForgetResult>(
        "features.forget",
        summary: "Deletes a pipeline's vectors and checkpoint (its record was deleted)."
    )
}

/// Asks the feature-extractor to extract a pipeline's builds.
public struct ProcessFeaturesRequest: Codable, Sendable, Equatable {
    /// The gateway's record (a repository config, a dataset version); reports carry it back.
    public var pipelineId: String
    public var githubId: Int64
    /// `owner/name`.
    public var fullName: String
    /// Feature names or wildcards (`git_*`); empty means every pre- and post-build feature.
    public var selection: [String]
    /// Unique per request; a redelivered request queues nothing new.
    public var requestId: String

    public init(pipelineId: String, githubId: Int64, fullName: String, selection: [String], requestId: String) {
        self.pipelineId = pipelineId
        self.githubId = githubId
        self.fullName = fullName
        self.selection = selection
        self.requestId = requestId
    }
}

public struct ProcessFeaturesAccepted: Codable, Sendable, Equatable {
    public var pipelineId: String
    /// False when the request was a redelivery and nothing new was queued.
    public var queued: Bool
    /// The DAG version (hash of the feature declarations) the vectors are computed under.
    public var dagVersion: String

    public init(pipelineId: String, queued: Bool, dagVersion: String) {
        self.pipelineId = pipelineId
        self.queued = queued
        self.dagVersion = dagVersion
    }
}

/// Names a pipeline record at the feature-extractor.
public struct FeaturePipelineParams: Codable, Sendable, Equatable {
    public var pipelineId: String

    public init(pipelineId: String) {
        self.pipelineId = pipelineId
    }
}

public struct FeatureForgetResult: Codable, Sendable, Equatable {
    public var vectorsDeleted: Int

    public init(vectorsDeleted: Int) {
        self.vectorsDeleted = vectorsDeleted
    }
}

/// An extraction's status per build.
public enum ExtractionStatus: String, ContractEnum {
    case pending
    case inProgress = "in_progress"
    case completed
    /// Some selected features skipped: a resource they need is missing.
    case partial
    case failed
}

public struct FeatureVectorsParams: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var limit: Int
    public var beforeRunId: Int64?
    public var status: ExtractionStatus?
    /// Only this run (the build's page); the page's counts are then that run's, not the pipeline's.
    public var runId: Int64?
    /// Leave the features out (a listing of statuses only).
    public var withFeatures: Bool
    /// With `runId`: also up to this many (at most 20) extracted builds of the run's branch that
    /// started before it, oldest first, in the page's `history` (the sequence model's input); with
    /// `branch` instead, the newest of that branch (the history of a build about to run).
    public var branchHistory: Int?
    /// With `branchHistory` and no `runId`: the branch whose newest extracted builds to answer.
    public var branch: String?

    public init(
        pipelineId: String, limit: Int, beforeRunId: Int64? = nil, status: ExtractionStatus? = nil, runId: Int64? = nil, withFeatures: Bool = true,
        branchHistory: Int? = nil, branch: String? = nil
    ) {
        self.branch = branch
        self.pipelineId = pipelineId
        self.limit = limit
        self.beforeRunId = beforeRunId
        self.status = status
        self.runId = runId
        self.withFeatures = withFeatures
        self.branchHistory = branchHistory
    }
}

/// One build's FeatureVector as stored.
public struct FeatureVectorRecord: Codable, Sendable, Equatable {
    public var runId: Int64
    public var dagVersion: String
    public var status: ExtractionStatus
    public var featureCount: Int
    /// Feature name → value (null where the feature has nothing to say); nil when not asked for.
    public var features: [String: FeatureValue]?
    public var missingResources: [String]
    public var skippedFeatures: [String]
    public var error: String?
    /// TravisTorrent's `tr_prev_build`: the previous build on the linearised history.
    public var trPrevBuild: Int64?
    public var extractedAt: String
    /// Back-filled scan metrics of the build's commit (`trivy_…`, `sonar_…`); nil when not asked for.
    public var scanMetrics: [String: Double]?
    /// The commit the build ran on (the effective commit the features were read from).
    public var commitSha: String?

    public init(
        runId: Int64, dagVersion: String, status: ExtractionStatus, featureCount: Int, features: [String: FeatureValue]?,
        missingResources: [String], skippedFeatures: [String], error: String?, trPrevBuild: Int64?, extractedAt: String,
        scanMetrics: [String: Double]? = nil, commitSha: String? = nil
    ) {
        self.runId = runId
        self.dagVersion = dagVersion
        self.status = status
        self.featureCount = featureCount
        self.features = features
        self.missingResources = missingResources
        self.skippedFeatures = skippedFeatures
        self.error = error
        self.trPrevBuild = trPrevBuild
        self.extractedAt = extractedAt
        self.scanMetrics = scanMetrics
        self.commitSha = commitSha
    }
}

/// Counts of a pipeline's builds by extraction status.
public struct ExtractionCounts: Codable, Sendable, Equatable {
    public var total: Int
    public var completed: Int
    public var partial: Int
    public var failed: Int

    public init(total: Int = 0, completed: Int = 0, partial: Int = 0, failed: Int = 0) {
        self.total = total
        self.completed = completed
        self.partial = partial
        self.failed = failed
    }
}

public struct FeatureVectorPage: Codable, Sendable, Equatable {
    public var counts: ExtractionCounts
    public var vectors: [FeatureVectorRecord]
    /// When `branchHistory` was asked for: the run's earlier builds on its branch, oldest first.
    public var history: [FeatureVectorRecord]?

    public init(counts: ExtractionCounts, vectors: [FeatureVectorRecord], history: [FeatureVectorRecord]? = nil) {
        self.counts = counts
        self.vectors = vectors
        self.history = history
    }
}

/// A feature selection to resolve: names and wildcards (`git_*`, `tr_prev_*`, `*`).
public struct FeatureSelectionParams: Codable, Sendable, Equatable {
    public var selection: [String]

    public init(selection: [String]) {
        self.selection = selection
    }
}

/// A selection as the DAG resolves it.
public struct ResolvedFeatureSelection: Codable, Sendable, Equatable {
    /// The names asked for, wildcards expanded.
    public var requested: [String]
    /// Those and every feature they depend on, in evaluation order.
    public var features: [String]
    /// What the features need (`git_history`, `git_worktree`, `build_logs`, `github_api`).
    public var resources: [String]
    /// What a pipeline extracting them asks the ingestor for: the ingested resources among
    /// ``resources``, and always `git_history` (a build's effective commit is found in the clone).
    public var ingestion: [IngestionResource]
    public var dagVersion: String

    public init(requested: [String], features: [String], resources: [String], ingestion: [IngestionResource], dagVersion: String) {
        self.requested = requested
        self.features = features
        self.resources = resources
        self.ingestion = ingestion
        self.dagVersion = dagVersion
    }
}

/// The catalogue document, as JSON text (what `contracts/features.json` holds).
public struct FeatureCatalogueText: Codable, Sendable, Equatable {
    public var json: String

    public init(json: String) {
        self.json = json
    }
}

/// Where a pipeline's feature extraction stands (the feature-extractor reports it through its outbox).
public enum ProcessingStatus: String, ContractEnum {
    case processing
    /// Every build extracted (some may be partial).
    case processed
    /// Extraction stopped: `message` says why.
    case failed
}

/// The feature-extractor's report on a pipeline's extraction; numbered like the other reports.
public struct ProcessingProgress: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var sequence: Int
    public var status: ProcessingStatus
    public var counts: ExtractionCounts
    public var message: String?
    /// Builds extracted since the previous report (at most 1,000), with their status.
    public var extracted: [ExtractedBuild]

    public init(pipelineId: String, sequence: Int, status: ProcessingStatus, counts: ExtractionCounts, message: String? = nil, extracted: [ExtractedBuild] = []) {
        self.pipelineId = pipelineId
        self.sequence = sequence
        self.status = status
        self.counts = counts
        self.message = message
        self.extracted = extracted
    }
}

/// A build whose extraction ended.
public struct ExtractedBuild: Codable, Sendable, Equatable {
    public var runId: Int64
    public var status: ExtractionStatus
    public var error: String?

    public init(runId: Int64, status: ExtractionStatus, error: String? = nil) {
        self.runId = runId
        self.status = status
        self.error = error
    }
}

/// A build's parsed log facts, as the ingestor stored them (JSON of BuildRiskLogs' `RunLogFacts`).
public struct RunLogFactsRecord: Codable, Sendable, Equatable {
    public var runId: Int64
    public var factsJSON: String

    public init(runId: Int64, factsJSON: String) {
        self.runId = runId
        self.factsJSON = factsJSON
    }
}

public struct LogFactsParams: Codable, Sendable, Equatable {
    public var githubId: Int64
    /// At most 500 runs a call.
    public var runIds: [Int64]

    public init(githubId: Int64, runIds: [Int64]) {
        self.githubId = githubId
        self.runIds = runIds
    }
}

/// A build that has not run yet, as `features.compute` takes it.
public struct PlannedBuild: Codable, Sendable, Equatable {
    /// The commit it would build (40 hexadecimal digits).
    public var commitSha: String
    /// The branch it would run on; nil for none (a tag, a detached commit).
    public var branch: String?
    /// The workflow it would run; nil for the workflow of the pipeline's newest build.
    public var workflowName: String?
    /// GitHub's trigger event; nil for `push`.
    public var event: String?
    /// Who would trigger it (a GitHub login); nil when not known.
    public var actor: String?

    public init(commitSha: String, branch: String? = nil, workflowName: String? = nil, event: String? = nil, actor: String? = nil) {
        self.commitSha = commitSha
        self.branch = branch
        self.workflowName = workflowName
        self.event = event
        self.actor = actor
    }
}

public struct ComputeFeaturesParams: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var build: PlannedBuild

    public init(pipelineId: String, build: PlannedBuild) {
        self.pipelineId = pipelineId
        self.build = build
    }
}

/// The pre-build features of a planned build, computed on the spot.
public struct ComputedFeatures: Codable, Sendable, Equatable {
    public var dagVersion: String
    public var commitSha: String
    public var workflowName: String
    public var event: String
    /// The instant the build counts as triggered (ISO 8601): when it was computed.
    public var triggeredAt: String
    /// The newest extracted build the history ends with: builds imported later are not seen.
    public var afterRunId: Int64?
    /// Whether the ingestor had to fetch the commit first.
    public var fetched: Bool
    /// Pre-build feature name → value (post-build features do not exist before a build runs).
    public var features: [String: FeatureValue]
    public var missingResources: [String]
    /// Selected pre-build features not computed (a resource missing, a dependency skipped).
    public var skippedFeatures: [String]

    public init(
        dagVersion: String, commitSha: String, workflowName: String, event: String, triggeredAt: String, afterRunId: Int64?, fetched: Bool,
        features: [String: FeatureValue], missingResources: [String], skippedFeatures: [String]
    ) {
        self.dagVersion = dagVersion
        self.commitSha = commitSha
        self.workflowName = workflowName
        self.event = event
        self.triggeredAt = triggeredAt
        self.afterRunId = afterRunId
        self.fetched = fetched
        self.features = features
        self.missingResources = missingResources
        self.skippedFeatures = skippedFeatures
    }
}

/// The features that order a repository's builds into branch histories (the sequence model's
/// inputs): the trainer and the predictor must read the same ones.
public enum BuildOrderFeatures {
    /// The branch a build ran on.
    public static let branch = "git_branch"
    /// When the build started (ISO 8601 in UTC).
    public static let startedAt = "gh_build_started_at"
}
