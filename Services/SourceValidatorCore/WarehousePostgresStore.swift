import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// A workflow run as GitHub lists it (the fields the warehouse keeps).
public struct GitHubRun: Codable, Sendable {
    public struct Actor: Codable, Sendable {
        public var login: String
        public var type: String?
    }
    public var id: Int64
    public var name: String?
    public var head_branch: String?
    public var head_sha: String
    public var event: String
    public var status: String?
    public var conclusion: String?
    public var run_number: Int
    public var created_at: String
    public var updated_at: String
    public var actor: Actor?
    /// The pull requests whose head is the run's head; GitHub leaves out those from forks.
    public var pull_requests: [PullRequestRef]?

    public struct PullRequestRef: Codable, Sendable {
        public var number: Int
    }

    /// Whether a bot account triggered the run (GitHub's actor type, or a `[bot]` login).
    public var isBot: Bool {
        guard let actor else { return false }
        return actor.type == "Bot" || actor.login.hasSuffix("[bot]")
    }

    /// Why this run is not imported, or nil when it is.
    public func exclusionReason(options: ImportOptions, since: Date?) -> String? {
        if status != "completed" { return "not completed (\(status ?? "no status"))" }
        if let conclusion, ["skipped", "action_required", "stale"].contains(conclusion) { return "conclusion \(conclusion)" }
        if conclusion == nil { return "no conclusion" }
        if options.excludeBots, isBot { return "bot actor" }
        if let since, let created = try? Date(created_at, strategy: .iso8601), created < since { return "older than the window" }
        return nil
    }
}

/// A repository as GitHub describes it.
public struct GitHubRepository: Codable, Sendable {
    public var id: Int64
    public var full_name: String
    public var default_branch: String
    public var `private`: Bool
    public var language: String?
    public var created_at: String?
}

/// The build warehouse in the source-validator's schema: repositories, their runs, and imports.
public struct WarehousePostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public init(client: PostgresClient, schema: String, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    public static let migrations: [Migration] = [
        Migration(version: 100, name: "warehouse", statements: [
            """
            CREATE TABLE {schema}.raw_repositories (
                github_id bigint PRIMARY KEY,
                full_name text NOT NULL,
                default_branch text NOT NULL,
                is_private boolean NOT NULL,
                language text,
                metadata jsonb NOT NULL DEFAULT '{}',
                repository_etag text,
                runs_etag text,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX raw_repositories_name ON {schema}.raw_repositories (lower(full_name))",
            """
            CREATE TABLE {schema}.raw_build_runs (
                github_id bigint NOT NULL REFERENCES {schema}.raw_repositories (github_id) ON DELETE CASCADE,
                run_id bigint NOT NULL,
                run_number integer NOT NULL,
                workflow_name text NOT NULL,
                event text NOT NULL,
                head_branch text,
                head_sha text NOT NULL,
                conclusion text NOT NULL,
                actor text,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                imported_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (github_id, run_id)
            )
            """,
            "CREATE INDEX raw_build_runs_newest ON {schema}.raw_build_runs (github_id, created_at DESC, run_id DESC)",
            """
            CREATE TABLE {schema}.imports (
                import_id text PRIMARY KEY,
                full_name text NOT NULL,
                github_id bigint,
                sequence integer NOT NULL DEFAULT 0,
                status text NOT NULL,
                message text,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
        ]),
        Migration(version: 102, name: "run_pull_requests", statements: [
            // The pull request a run built, as its `pull_requests` names it (runs stored before stay NULL).
            "ALTER TABLE {schema}.raw_build_runs ADD COLUMN pull_request_number integer",
        ]),
    ]

    /// Stores or refreshes a repository; returns its stored ETags (repository, runs).
    func upsert(_ repository: GitHubRepository, metadata: String, repositoryETag: String?, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).raw_repositories (github_id, full_name, default_branch, is_private, language, metadata, repository_etag)
            VALUES (\(repository.id), \(repository.full_name), \(repository.default_branch), \(repository.private), \(repository.language), \(metadata)::jsonb, \(repositoryETag))
            ON CONFLICT (github_id) DO UPDATE SET full_name = EXCLUDED.full_name, default_branch = EXCLUDED.default_branch,
                is_private = EXCLUDED.is_private, language = EXCLUDED.language, metadata = EXCLUDED.metadata,
                repository_etag = EXCLUDED.repository_etag, updated_at = now()
            """, logger: logger)
    }

    /// The stored repository named `fullName` with its ETags.
    func repository(named fullName: String) async throws -> (summary: RepositorySummary, repositoryETag: String?, runsETag: String?)? {
        let rows = try await client.query(
            """
            SELECT github_id, full_name, default_branch, is_private, language, repository_etag, runs_etag
            FROM \(unescaped: schema).raw_repositories WHERE lower(full_name) = lower(\(fullName))
            """, logger: logger)
        for try await row in rows.decode((Int64, String, String, Bool, String?, String?, String?).self) {
            return (RepositorySummary(githubId: row.0, fullName: row.1, defaultBranch: row.2, isPrivate: row.3, language: row.4), row.5, row.6)
        }
        return nil
    }

    func setRunsETag(githubId: Int64, etag: String?) async throws {
        try await client.query("UPDATE \(unescaped: schema).raw_repositories SET runs_etag = \(etag) WHERE github_id = \(githubId)", logger: logger)
    }

    /// Which of these run ids the warehouse already holds.
    func existingRunIDs(githubId: Int64, among ids: [Int64]) async throws -> Set<Int64> {
        var found = Set<Int64>()
        let rows = try await client.query(
            "SELECT run_id FROM \(unescaped: schema).raw_build_runs WHERE github_id = \(githubId) AND run_id = ANY(\(ids))", logger: logger)
        for try await id in rows.decode(Int64.self) { found.insert(id) }
        return found
    }

    /// Inserts runs (a run already stored is left as it is) on `connection` in one statement;
    /// returns how many were new.
    func insert(_ runs: [GitHubRun], githubId: Int64, on connection: PostgresConnection) async throws -> Int {
        guard !runs.isEmpty else { return 0 }
        func date(_ text: String) -> Date { (try? Date(text, strategy: .iso8601)) ?? Date(timeIntervalSince1970: 0) }
        // Empty strings stand for NULL in the text arrays (NULLIF below).
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: schema).raw_build_runs
                (github_id, run_id, run_number, workflow_name, event, head_branch, head_sha, conclusion, actor, created_at, updated_at,
                 pull_request_number)
            SELECT \(githubId), r.run_id, r.run_number, r.workflow_name, r.event, NULLIF(r.head_branch, ''), r.head_sha, r.conclusion,
                   NULLIF(r.actor, ''), r.created_at, r.updated_at, NULLIF(r.pull_request_number, 0)
            FROM unnest(\(runs.map(\.id))::int8[], \(runs.map(\.run_number))::int4[], \(runs.map { $0.name ?? "workflow" })::text[],
                        \(runs.map(\.event))::text[], \(runs.map { $0.head_branch ?? "" })::text[], \(runs.map(\.head_sha))::text[],
                        \(runs.map { $0.conclusion ?? "unknown" })::text[], \(runs.map { $0.actor?.login ?? "" })::text[],
                        \(runs.map { date($0.created_at) })::timestamptz[], \(runs.map { date($0.updated_at) })::timestamptz[],
                        \(runs.map { $0.pull_requests?.first?.number ?? 0 })::int4[])
                 AS r (run_id, run_number, workflow_name, event, head_branch, head_sha, conclusion, actor, created_at, updated_at,
                       pull_request_number)
            ON CONFLICT (github_id, run_id) DO NOTHING
            RETURNING run_id
            """, logger: logger
        ).collect()
        return rows.count
    }

    /// Creates the import's record if new; returns nothing (progress sequences live here).
    /// Records an import; false when it was forgotten (deleted) already, which it stays.
    @discardableResult
    func ensureImport(id: String, fullName: String) async throws -> Bool {
        try await client.query(
            """
            INSERT INTO \(unescaped: schema).imports (import_id, full_name, status) VALUES (\(id), \(fullName), 'queued')
            ON CONFLICT (import_id) DO UPDATE SET full_name = EXCLUDED.full_name WHERE imports.status <> 'deleted'
            RETURNING 1
            """, logger: logger
        ).collect().isEmpty == false
    }

    /// Holds the import's record against a concurrent forget until `connection`'s transaction
    /// ends; false when the import was forgotten. Every write of an import job takes it, so a
    /// forget either waits for the write and deletes what it wrote, or the write sees the forget.
    func lockLiveImport(_ id: String, on connection: PostgresConnection) async throws -> Bool {
        try await connection.query(
            "SELECT 1 FROM \(unescaped: schema).imports WHERE import_id = \(id) AND status <> 'deleted' FOR SHARE", logger: logger
        ).collect().isEmpty == false
    }

    /// The next progress sequence of an import, recorded with its status on `connection`.
    func nextSequence(importId: String, status: ImportStatus, message: String?, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: schema).imports SET sequence = sequence + 1, status = \(status.rawValue), message = \(message), updated_at = now()
            WHERE import_id = \(importId) AND status <> 'deleted' RETURNING sequence
            """, logger: logger
        ).collect()
        guard let row = rows.first else { throw ImportForgotten(importId: importId) }
        return try row.decode(Int.self)
    }

    /// Forgets an import and, when `githubId` is given, the repository with its runs. The import's
    /// record stays as a tombstone (status `deleted`), so an import job still queued or running
    /// for it writes nothing more (``lockLiveImport(_:on:)``).
    func forget(_ params: ForgetRepositoryParams) async throws -> ForgetRepositoryResult {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO \(unescaped: schema).imports (import_id, full_name, status) VALUES (\(params.importId), '', 'deleted')
                ON CONFLICT (import_id) DO UPDATE SET status = 'deleted', message = NULL, updated_at = now()
                """, logger: logger)
            guard let githubId = params.githubId else { return ForgetRepositoryResult(runsDeleted: 0) }
            let runs = try await connection.query(
                "DELETE FROM \(unescaped: schema).raw_build_runs WHERE github_id = \(githubId) RETURNING run_id", logger: logger
            ).collect().count
            try await connection.query("DELETE FROM \(unescaped: schema).raw_repositories WHERE github_id = \(githubId)", logger: logger)
            return ForgetRepositoryResult(runsDeleted: runs)
        }
    }

    /// A page of stored runs, newest first.
    func builds(_ params: ListBuildsParams) async throws -> BuildPage {
        let total = try await client.query(
            "SELECT count(*)::int8 FROM \(unescaped: schema).raw_build_runs WHERE github_id = \(params.githubId)", logger: logger
        ).collect().first?.decode(Int64.self) ?? 0
        let rows = try await client.query(
            """
            SELECT run_id, run_number, workflow_name, event, head_branch, head_sha, conclusion, actor, created_at, updated_at,
                   pull_request_number
            FROM \(unescaped: schema).raw_build_runs
            WHERE github_id = \(params.githubId) AND (\(params.beforeRunId)::int8 IS NULL OR run_id < \(params.beforeRunId))
            ORDER BY run_id DESC LIMIT \(min(max(params.limit, 1), 1000))
            """, logger: logger)
        var builds: [BuildRun] = []
        for try await row in rows.decode((Int64, Int, String, String, String?, String, String, String?, Date, Date, Int?).self) {
            builds.append(BuildRun(
                runId: row.0, runNumber: row.1, workflowName: row.2, event: row.3, headBranch: row.4, headSha: row.5,
                conclusion: row.6, actor: row.7, createdAt: row.8.formatted(.iso8601), updatedAt: row.9.formatted(.iso8601),
                pullRequestNumber: row.10))
        }
        return BuildPage(total: Int(total), builds: builds)
    }
}

/// The import was forgotten (its repository deleted) while its job ran: the job stops, writing nothing more.
struct ImportForgotten: Error, CustomStringConvertible {
    var importId: String
    var description: String { "import \(importId) was deleted" }
}
