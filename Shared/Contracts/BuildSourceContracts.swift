/// Which CSV columns hold what (defaults: `repo_name`, `build_id`, no provider column).
public struct ColumnMapping: Codable, Sendable, Equatable {
    public var repoName: String
    public var buildId: String
    /// The column naming each row's CI provider (`github_actions`, `circleci`, `travis`); nil: every
    /// row is a GitHub Actions run. A row of a provider that cannot be validated yet is kept as
    /// filtered with the reason; a value that names no provider refuses the file.
    public var provider: String?

    public init(repoName: String = "repo_name", buildId: String = "build_id", provider: String? = nil) {
        self.repoName = repoName
        self.buildId = buildId
        self.provider = provider
    }
}

/// Which builds of a source are kept; the others are marked filtered with the reason.
public struct BuildFilters: Codable, Sendable, Equatable {
    /// Allowed conclusions (e.g. success, failure); nil allows all.
    public var conclusions: [String]?
    /// Allowed trigger events (push, pull_request, …); nil allows all.
    public var events: [String]?
    /// Allowed branches: globs (`release/*`) or regular expressions between slashes (`/^main$/`).
    public var branches: [String]?
    public var excludeBots: Bool

    public init(conclusions: [String]? = nil, events: [String]? = nil, branches: [String]? = nil, excludeBots: Bool = false) {
        self.conclusions = conclusions
        self.events = events
        self.branches = branches
        self.excludeBots = excludeBots
    }
}

/// Create a build source from a CSV file the gateway stored in the shared data directory.
public struct CreateBuildSourceParams: Codable, Sendable, Equatable {
    public var sourceId: String
    public var name: String
    /// Path of the uploaded file, under `BUILDRISK_DATA_DIR`.
    public var path: String
    public var mapping: ColumnMapping
    public var filters: BuildFilters

    public init(sourceId: String, name: String, path: String, mapping: ColumnMapping, filters: BuildFilters) {
        self.sourceId = sourceId
        self.name = name
        self.path = path
        self.mapping = mapping
        self.filters = filters
    }
}

/// Counts of a build source, overall or for one repository.
public struct BuildSourceCounts: Codable, Sendable, Equatable {
    public var total: Int
    public var pending: Int
    public var found: Int
    public var notFound: Int
    public var filtered: Int

    public init(total: Int = 0, pending: Int = 0, found: Int = 0, notFound: Int = 0, filtered: Int = 0) {
        self.total = total
        self.pending = pending
        self.found = found
        self.notFound = notFound
        self.filtered = filtered
    }
}

/// A build source and how its validation stands.
public struct BuildSourceStatus: Codable, Sendable, Equatable {
    public var sourceId: String
    public var name: String
    /// validating, validated.
    public var status: String
    /// Rows in the file that repeated an earlier (repository, build) pair and were not stored again.
    public var duplicates: Int
    public var counts: BuildSourceCounts
    public var repositories: [String: BuildSourceCounts]

    public init(sourceId: String, name: String, status: String, duplicates: Int, counts: BuildSourceCounts, repositories: [String: BuildSourceCounts]) {
        self.sourceId = sourceId
        self.name = name
        self.status = status
        self.duplicates = duplicates
        self.counts = counts
        self.repositories = repositories
    }
}

/// One row of a build source and its validation outcome.
public struct SourceBuildRow: Codable, Sendable, Equatable {
    public var line: Int
    public var repoName: String
    public var buildId: Int64
    /// pending, found, not_found, filtered.
    public var status: String
    public var reason: String?

    public init(line: Int, repoName: String, buildId: Int64, status: String, reason: String?) {
        self.line = line
        self.repoName = repoName
        self.buildId = buildId
        self.status = status
        self.reason = reason
    }
}

/// Identifies a build source.
public struct BuildSourceRef: Codable, Sendable, Equatable {
    public var sourceId: String

    public init(sourceId: String) {
        self.sourceId = sourceId
    }
}

/// A page of a source's rows, optionally of one status.
public struct ListSourceBuildsParams: Codable, Sendable, Equatable {
    public var sourceId: String
    public var status: String?
    public var limit: Int
    /// Rows after this line (the next page).
    public var afterLine: Int?

    public init(sourceId: String, status: String?, limit: Int, afterLine: Int? = nil) {
        self.sourceId = sourceId
        self.status = status
        self.limit = limit
        self.afterLine = afterLine
    }
}

/// Where a page of found builds continues: after this (repository, run).
public struct FoundBuildCursor: Codable, Sendable, Equatable {
    public var githubId: Int64
    public var runId: Int64

    public init(githubId: Int64, runId: Int64) {
        self.githubId = githubId
        self.runId = runId
    }
}

/// A page of a source's found builds, in (repository id, run id) order.
public struct FoundBuildsParams: Codable, Sendable, Equatable {
    public var sourceId: String
    public var after: FoundBuildCursor?
    /// At most 1,000.
    public var limit: Int

    public init(sourceId: String, after: FoundBuildCursor? = nil, limit: Int) {
        self.sourceId = sourceId
        self.after = after
        self.limit = limit
    }
}

/// A found row of a build source with its run as the warehouse stores it.
public struct FoundBuild: Codable, Sendable, Equatable {
    public var githubId: Int64
    /// `owner/name` as GitHub answered it (the file may name an older name).
    public var fullName: String
    public var build: BuildRun

    public init(githubId: Int64, fullName: String, build: BuildRun) {
        self.githubId = githubId
        self.fullName = fullName
        self.build = build
    }
}

public struct FoundBuildPage: Codable, Sendable, Equatable {
    public var builds: [FoundBuild]
    /// Where the next page starts; nil on the last page.
    public var next: FoundBuildCursor?

    public init(builds: [FoundBuild], next: FoundBuildCursor?) {
        self.builds = builds
        self.next = next
    }
}

/// The source-validator's build-source methods.
public enum BuildSourceMethods {
    public static let create = RPCMethod<CreateBuildSourceParams, BuildSourceStatus>(
        "buildSources.create",
        summary: "Parses an uploaded CSV (streamed, never whole in memory), stores one row per distinct (repository, build) and queues their validation; a malformed file or mapping is refused with the line and the reason and nothing is written."
    )
    public static let status = RPCMethod<BuildSourceRef, BuildSourceStatus>(
        "buildSources.status",
        summary: "A build source's validation statistics, overall and per repository."
    )
    public static let rows = RPCMethod<ListSourceBuildsParams, [SourceBuildRow]>(
        "buildSources.rows",
        summary: "A build source's rows with their status and reason, in file order."
    )
    public static let foundBuilds = RPCMethod<FoundBuildsParams, FoundBuildPage>(
        "buildSources.foundBuilds",
        summary: "A build source's found rows with their runs from the warehouse, paged in (repository id, run id) order."
    )
    public static let delete = RPCMethod<BuildSourceRef, Empty>(
        "buildSources.delete",
        summary: "Deletes a build source and its rows (the runs found stay in the warehouse); an unknown source is not found."
    )
}
