/// What a pipeline needs of a build before features can be extracted.
public enum IngestionResource: String, ContractEnum {
    /// The build's commit in a bare clone (history and diffs are read from the object database).
    case gitHistory = "git_history"
    /// The build's commit checked out on disk (scanners, whole-repository metrics).
    case gitWorktree = "git_worktree"
    /// The run's logs, downloaded and parsed into facts.
    case buildLogs = "build_logs"
}

/// Where one resource of one build stands.
public enum ResourceStatus: String, ContractEnum {
    case pending
    case inProgress = "in_progress"
    case completed
    /// Could not be had this time (timeout, truncated download, clone failure); a retry may succeed.
    case failed
    /// Not asked for by the pipeline.
    case skipped
    /// Does not exist any more (expired logs, a commit that neither the pull ref nor its patch gives).
    case missing
}

/// A build's final ingestion status.
public enum IngestionBuildStatus: String, ContractEnum {
    case pending
    case ingested
    /// A resource the build needs does not exist; retrying cannot help.
    case missingResource = "missing_resource"
    /// A resource could not be had this time; `retryFailed` runs it again.
    case failed
}

/// One build to ingest.
public struct IngestionBuild: Codable, Sendable, Equatable {
    public var runId: Int64
    public var headSha: String
    public var event: String
    public var createdAt: String

    public init(runId: Int64, headSha: String, event: String, createdAt: String) {
        self.runId = runId
        self.headSha = headSha
        self.event = event
        self.createdAt = createdAt
    }
}

/// Asks the ingestor to make builds' resources available. It answers at once and reports back
/// through its outbox (`pipeline.ingestionProgress`).
public struct IngestionRequest: Codable, Sendable, Equatable {
    /// The pipeline record the builds belong to (a repository config, a dataset, a scenario).
    public var pipelineId: String
    /// The repository (`owner/name`) and its GitHub id.
    public var fullName: String
    public var githubId: Int64
    public var resources: [IngestionResource]
    /// Builds already known for this pipeline are left as they are; new ones are added.
    public var builds: [IngestionBuild]

    public init(pipelineId: String, fullName: String, githubId: Int64, resources: [IngestionResource], builds: [IngestionBuild]) {
        self.pipelineId = pipelineId
        self.fullName = fullName
        self.githubId = githubId
        self.resources = resources
        self.builds = builds
    }
}

/// The ingestor's answer to a request or a retry.
public struct IngestionAccepted: Codable, Sendable, Equatable {
    public var pipelineId: String
    /// Builds queued by this call (new ones, or failed ones for a retry).
    public var queued: Int
    /// For a retry that queued builds: the sequence of the `ingesting` report it sent. Every
    /// report with a higher sequence was made after the retry; lower ones (a job of the earlier
    /// run reporting late) were not.
    public var sequence: Int?

    public init(pipelineId: String, queued: Int, sequence: Int? = nil) {
        self.pipelineId = pipelineId
        self.queued = queued
        self.sequence = sequence
    }
}

/// Counts of a pipeline's builds by final status.
public struct IngestionCounts: Codable, Sendable, Equatable {
    public var total: Int
    public var pending: Int
    public var ingested: Int
    public var missingResource: Int
    public var failed: Int

    public init(total: Int = 0, pending: Int = 0, ingested: Int = 0, missingResource: Int = 0, failed: Int = 0) {
        self.total = total
        self.pending = pending
        self.ingested = ingested
        self.missingResource = missingResource
        self.failed = failed
    }
}

/// Where a pipeline's ingestion stands.
public enum IngestionStatus: String, ContractEnum {
    case ingesting
    /// Every build ingested.
    case ingested
    /// Some builds ingested, others missing a resource or failed.
    case partial
    /// No build could be ingested.
    case failed
}

/// A build that reached its final status.
public struct SettledBuild: Codable, Sendable, Equatable {
    public var runId: Int64
    public var status: IngestionBuildStatus
    public var reason: String?

    public init(runId: Int64, status: IngestionBuildStatus, reason: String?) {
        self.runId = runId
        self.status = status
        self.reason = reason
    }
}

/// The ingestor's progress report to the gateway; the one with the highest sequence wins.
public struct IngestionProgress: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var sequence: Int
    public var status: IngestionStatus
    public var counts: IngestionCounts
    public var message: String?
    /// Builds that reached their final status since the previous report (at most 1,000; all of
    /// them are always readable through `ingestion.builds`).
    public var settled: [SettledBuild]

    public init(pipelineId: String, sequence: Int, status: IngestionStatus, counts: IngestionCounts, message: String? = nil, settled: [SettledBuild] = []) {
        self.pipelineId = pipelineId
        self.sequence = sequence
        self.status = status
        self.counts = counts
        self.message = message
        self.settled = settled
    }
}

/// One resource's state on one build.
public struct ResourceState: Codable, Sendable, Equatable {
    public var resource: IngestionResource
    public var status: ResourceStatus
    public var error: String?
    public var startedAt: String?
    public var finishedAt: String?

    public init(resource: IngestionResource, status: ResourceStatus, error: String? = nil, startedAt: String? = nil, finishedAt: String? = nil) {
        self.resource = resource
        self.status = status
        self.error = error
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// A build's ingestion record.
public struct IngestionBuildRecord: Codable, Sendable, Equatable {
    public var runId: Int64
    public var headSha: String
    /// The commit features read: the head commit, or a synthetic one replayed from its patch.
    public var effectiveSha: String?
    /// How the commit was had: `clone`, `pull_ref` or `patch`.
    public var commitSource: String?
    public var status: IngestionBuildStatus
    public var reason: String?
    public var resources: [ResourceState]
    public var attempts: Int
    public var updatedAt: String

    public init(runId: Int64, headSha: String, effectiveSha: String?, commitSource: String?, status: IngestionBuildStatus, reason: String?,
                resources: [ResourceState], attempts: Int, updatedAt: String) {
        self.runId = runId
        self.headSha = headSha
        self.effectiveSha = effectiveSha
        self.commitSource = commitSource
        self.status = status
        self.reason = reason
        self.resources = resources
        self.attempts = attempts
        self.updatedAt = updatedAt
    }
}

/// A page of a pipeline's ingestion records, by run id descending.
public struct IngestionBuildsParams: Codable, Sendable, Equatable {
    public var pipelineId: String
    public var limit: Int
    public var beforeRunId: Int64?
    /// Only builds in this final status.
    public var status: IngestionBuildStatus?

    public init(pipelineId: String, limit: Int, beforeRunId: Int64? = nil, status: IngestionBuildStatus? = nil) {
        self.pipelineId = pipelineId
        self.limit = limit
        self.beforeRunId = beforeRunId
        self.status = status
    }
}

/// Ingestion records with the pipeline's counts.
public struct IngestionBuildPage: Codable, Sendable, Equatable {
    public var counts: IngestionCounts
    public var builds: [IngestionBuildRecord]

    public init(counts: IngestionCounts, builds: [IngestionBuildRecord]) {
        self.counts = counts
        self.builds = builds
    }
}

/// Names a pipeline record at the ingestor.
public struct IngestionPipelineParams: Codable, Sendable, Equatable {
    public var pipelineId: String

    public init(pipelineId: String) {
        self.pipelineId = pipelineId
    }
}

/// What forgetting a pipeline deleted.
public struct IngestionForgetResult: Codable, Sendable, Equatable {
    public var buildsDeleted: Int

    public init(buildsDeleted: Int) {
        self.buildsDeleted = buildsDeleted
    }
}

/// The ingestor's methods.
public enum IngestionMethods {
    public static let start = RPCMethod<IngestionRequest, IngestionAccepted>(
        "ingestion.start",
        summary: "Records builds of a pipeline and queues their resources (clone/fetch, fork commits, worktrees, logs); progress goes back to the gateway as pipeline.ingestionProgress."
    )
    public static let builds = RPCMethod<IngestionBuildsParams, IngestionBuildPage>(
        "ingestion.builds",
        summary: "Lists a pipeline's ingestion records with per-resource status, newest run first."
    )
    public static let retryFailed = RPCMethod<IngestionPipelineParams, IngestionAccepted>(
        "ingestion.retryFailed",
        summary: "Queues again the builds of a pipeline whose status is failed (never missing_resource ones)."
    )
    public static let releaseWorktrees = RPCMethod<IngestionPipelineParams, IngestionForgetResult>(
        "ingestion.releaseWorktrees",
        summary: "Says a pipeline no longer needs its worktrees; one no pending pipeline needs stays as a cache, evicted least recently used first when a new worktree needs the room."
    )
    public static let logFacts = RPCMethod<LogFactsParams, [RunLogFactsRecord]>(
        "ingestion.logFacts",
        summary: "The parsed facts (steps, durations, errors, warnings, test counts per framework) of runs whose logs were ingested, as stored; runs without logs are left out. At most 500 runs a call."
    )
    public static let forget = RPCMethod<IngestionPipelineParams, IngestionForgetResult>(
        "ingestion.forget",
        summary: "Deletes a pipeline's ingestion records and releases its worktrees; when no other pipeline holds the repository, its clone, parsed logs and unpacked log files go too (the gateway sends it when a repository config is deleted)."
    )
}

extension IngestionMethods {
    public static let fetchCommit = RPCMethod<CommitFetchParams, CommitFetchResult>(
        "ingestion.fetchCommit",
        summary: "Makes sure a commit is in a repository's clone, fetching its branches and pull-request heads when it is not; not found when neither has it."
    )
}

public struct CommitFetchParams: Codable, Sendable, Equatable {
    public var githubId: Int64
    /// `owner/name`: the clone is fetched from GitHub's clone URL of it.
    public var fullName: String
    public var commitSha: String

    public init(githubId: Int64, fullName: String, commitSha: String) {
        self.githubId = githubId
        self.fullName = fullName
        self.commitSha = commitSha
    }
}

public struct CommitFetchResult: Codable, Sendable, Equatable {
    /// False when the clone already had the commit.
    public var fetched: Bool

    public init(fetched: Bool) {
        self.fetched = fetched
    }
}
