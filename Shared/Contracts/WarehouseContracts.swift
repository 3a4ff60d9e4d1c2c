/// The CI systems a repository's builds can come from.
public enum CIProvider: String, ContractEnum {
    case githubActions = "github_actions"
    case circleci
    case travis
}

/// How a repository's builds are imported (the options of `POST /api/v1/repos/import/bulk`).
public struct ImportOptions: Codable, Sendable, Equatable {
    public var ciProvider: CIProvider
    /// Import at most this many of the newest completed runs.
    public var maxBuilds: Int?
    /// Only runs created in the last N days.
    public var sinceDays: Int?
    /// Page newest-first and stop at the first run already in the warehouse (instead of all pages in parallel).
    public var syncUntilExisting: Bool
    /// Leave out runs triggered by bot accounts.
    public var excludeBots: Bool
    /// Leave out runs whose logs GitHub no longer has (one request per run; nil means false, as
    /// options stored before this field existed say).
    public var onlyWithLogs: Bool?
    /// Start feature extraction by itself when the ingestion ends (nil means false).
    public var autoProcess: Bool?
    /// The features to extract (names and wildcards); nil means the whole catalogue. The
    /// ingestion asks for exactly the resources they need.
    public var features: [String]?

    public init(
        ciProvider: CIProvider = .githubActions, maxBuilds: Int? = nil, sinceDays: Int? = nil, syncUntilExisting: Bool = false,
        excludeBots: Bool = false, onlyWithLogs: Bool = false, autoProcess: Bool = false, features: [String]? = nil
    ) {
        self.ciProvider = ciProvider
        self.maxBuilds = maxBuilds
        self.sinceDays = sinceDays
        self.syncUntilExisting = syncUntilExisting
        self.excludeBots = excludeBots
        self.onlyWithLogs = onlyWithLogs
        self.autoProcess = autoProcess
        self.features = features
    }
}

/// Asks the source-validator to import one repository's builds.
public struct ImportRepositoryParams: Codable, Sendable, Equatable {
    /// The gateway's repository-config id; progress reports carry it back.
    public var importId: String
    /// Unique per import request (a first import, each sync); a redelivered request queues nothing new.
    public var requestId: String
    /// `owner/name`.
    public var fullName: String
    public var options: ImportOptions

    public init(importId: String, requestId: String, fullName: String, options: ImportOptions) {
        self.importId = importId
        self.requestId = requestId
        self.fullName = fullName
        self.options = options
    }
}

/// The source-validator's answer: the import is queued (the work happens in its job queue).
public struct ImportAccepted: Codable, Sendable, Equatable {
    public var importId: String
    /// False when an import with this id and attempt was already queued (nothing new was queued).
    public var queued: Bool

    public init(importId: String, queued: Bool) {
        self.importId = importId
        self.queued = queued
    }
}

/// Where an import stands, as the source-validator reports it to the gateway.
public enum ImportStatus: String, ContractEnum {
    case queued, fetching, fetched, failed
}

/// A progress report of an import; the gateway keeps the one with the highest sequence number.
public struct ImportProgress: Codable, Sendable, Equatable {
    public var importId: String
    /// Increases with every report of one import, so a late redelivery never overwrites news.
    public var sequence: Int
    public var status: ImportStatus
    public var message: String?
    public var repository: RepositorySummary?
    /// Runs stored by this import so far (new to the warehouse).
    public var imported: Int
    /// Runs seen but not stored (not completed, skipped/stale/action_required conclusions, bots, outside the window).
    public var filtered: Int
    /// Runs seen that the warehouse already had.
    public var existing: Int
    /// GitHub API requests made, and how many of them were answered 304 Not Modified.
    public var apiRequests: Int
    public var notModified: Int

    public init(importId: String, sequence: Int, status: ImportStatus, message: String? = nil, repository: RepositorySummary? = nil,
                imported: Int = 0, filtered: Int = 0, existing: Int = 0, apiRequests: Int = 0, notModified: Int = 0) {
        self.importId = importId
        self.sequence = sequence
        self.status = status
        self.message = message
        self.repository = repository
        self.imported = imported
        self.filtered = filtered
        self.existing = existing
        self.apiRequests = apiRequests
        self.notModified = notModified
    }
}

/// A repository as the warehouse knows it (RawRepository).
public struct RepositorySummary: Codable, Sendable, Equatable {
    public var githubId: Int64
    public var fullName: String
    public var defaultBranch: String
    public var isPrivate: Bool
    public var language: String?

    public init(githubId: Int64, fullName: String, defaultBranch: String, isPrivate: Bool, language: String?) {
        self.githubId = githubId
        self.fullName = fullName
        self.defaultBranch = defaultBranch
        self.isPrivate = isPrivate
        self.language = language
    }
}

/// A page of a repository's stored runs, newest first.
public struct ListBuildsParams: Codable, Sendable, Equatable {
    public var githubId: Int64
    public var limit: Int
    /// Continue after this run id (exclusive), for the next page.
    public var beforeRunId: Int64?

    public init(githubId: Int64, limit: Int, beforeRunId: Int64? = nil) {
        self.githubId = githubId
        self.limit = limit
        self.beforeRunId = beforeRunId
    }
}

/// A stored workflow run (RawBuildRun).
public struct BuildRun: Codable, Sendable, Equatable {
    public var runId: Int64
    public var runNumber: Int
    public var workflowName: String
    public var event: String
    public var headBranch: String?
    public var headSha: String
    public var conclusion: String
    public var actor: String?
    public var createdAt: String
    public var updatedAt: String
    /// The pull request the run built, when GitHub named it in the run's `pull_requests` (it does
    /// not for pull requests from forks).
    public var pullRequestNumber: Int?

    public init(runId: Int64, runNumber: Int, workflowName: String, event: String, headBranch: String?, headSha: String,
                conclusion: String, actor: String?, createdAt: String, updatedAt: String, pullRequestNumber: Int? = nil) {
        self.runId = runId
        self.runNumber = runNumber
        self.workflowName = workflowName
        self.event = event
        self.headBranch = headBranch
        self.headSha = headSha
        self.conclusion = conclusion
        self.actor = actor
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.pullRequestNumber = pullRequestNumber
    }
}

/// Runs of a repository, newest first, with the total stored.
public struct BuildPage: Codable, Sendable, Equatable {
    public var total: Int
    public var builds: [BuildRun]

    public init(total: Int, builds: [BuildRun]) {
        self.total = total
        self.builds = builds
    }
}

/// Forget an import, and the repository's warehouse rows when no other import holds them.
public struct ForgetRepositoryParams: Codable, Sendable, Equatable {
    public var importId: String
    /// The repository whose rows go, or nil to forget only the import record.
    public var githubId: Int64?

    public init(importId: String, githubId: Int64?) {
        self.importId = importId
        self.githubId = githubId
    }
}

/// What forgetting deleted.
public struct ForgetRepositoryResult: Codable, Sendable, Equatable {
    public var runsDeleted: Int

    public init(runsDeleted: Int) {
        self.runsDeleted = runsDeleted
    }
}

/// The source-validator's methods.
public enum WarehouseMethods {
    public static let importRepository = RPCMethod<ImportRepositoryParams, ImportAccepted>(
        "warehouse.importRepository",
        summary: "Queues the import of a repository's completed workflow runs; progress goes back to the gateway as pipeline.importProgress."
    )
    public static let forgetRepository = RPCMethod<ForgetRepositoryParams, ForgetRepositoryResult>(
        "warehouse.forgetRepository",
        summary: "Deletes an import record and, when githubId is given, the repository and all its stored runs (the gateway sends it when the last config of a repository is deleted)."
    )
    public static let listBuilds = RPCMethod<ListBuildsParams, BuildPage>(
        "warehouse.listBuilds",
        summary: "Lists a repository's stored runs, newest first."
    )
}

