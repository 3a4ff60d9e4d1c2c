import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The ingestor's records in its schema: pipelines, one ingestion record per build with a status
/// per resource, clones, parsed run logs and worktrees.
public struct IngestionPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public init(client: PostgresClient, schema: String, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    public static let migrations: [Migration] = [
        Migration(version: 100, name: "ingestion", statements: [
            """
            CREATE TABLE {schema}.pipelines (
                pipeline_id text PRIMARY KEY,
                github_id bigint NOT NULL,
                full_name text NOT NULL,
                resources text[] NOT NULL,
                sequence integer NOT NULL DEFAULT 0,
                status text NOT NULL DEFAULT 'ingesting',
                message text,
                worktrees_released boolean NOT NULL DEFAULT false,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE {schema}.ingestion_builds (
                pipeline_id text NOT NULL REFERENCES {schema}.pipelines (pipeline_id) ON DELETE CASCADE,
                run_id bigint NOT NULL,
                github_id bigint NOT NULL,
                head_sha text NOT NULL,
                event text NOT NULL,
                run_created_at text NOT NULL,
                effective_sha text,
                commit_source text,
                status text NOT NULL DEFAULT 'pending',
                reason text,
                attempts integer NOT NULL DEFAULT 1,
                history_status text NOT NULL,
                history_error text,
                history_started_at timestamptz,
                history_finished_at timestamptz,
                worktree_status text NOT NULL,
                worktree_error text,
                worktree_started_at timestamptz,
                worktree_finished_at timestamptz,
                logs_status text NOT NULL,
                logs_error text,
                logs_started_at timestamptz,
                logs_finished_at timestamptz,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline_id, run_id)
            )
            """,
            "CREATE INDEX ingestion_builds_commit ON {schema}.ingestion_builds (github_id, effective_sha)",
            """
            CREATE TABLE {schema}.clones (
                github_id bigint PRIMARY KEY,
                full_name text NOT NULL,
                path text NOT NULL,
                cloned_at timestamptz NOT NULL DEFAULT now(),
                fetched_at timestamptz NOT NULL DEFAULT now(),
                size_bytes bigint NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE {schema}.run_logs (
                github_id bigint NOT NULL,
                run_id bigint NOT NULL,
                facts jsonb NOT NULL,
                zip_bytes bigint NOT NULL,
                fetched_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (github_id, run_id)
            )
            """,
            """
            CREATE TABLE {schema}.worktrees (
                github_id bigint NOT NULL,
                sha text NOT NULL,
                name text NOT NULL,
                path text NOT NULL,
                bytes bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (github_id, sha)
            )
            """,
        ]),
        // A commit checked out for a scan: held by its scan until released, whatever pipelines need.
        Migration(version: 101, name: "worktree_holds", statements: [
            """
            CREATE TABLE {schema}.worktree_holds (
                github_id bigint NOT NULL,
                sha text NOT NULL,
                holder text NOT NULL,
                held_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (github_id, sha, holder)
            )
            """,
        ]),
        // Released worktrees stay as a cache; the least recently used goes first when room is needed.
        Migration(version: 102, name: "worktree_last_used", statements: [
            "ALTER TABLE {schema}.worktrees ADD COLUMN last_used timestamptz NOT NULL DEFAULT now()",
        ]),
    ]

    /// The job kinds the ingestor runs.
    enum Jobs {
        /// Clone or fetch a repository and make every pending build's commit available.
        static let repository = JobKind<RepositoryJob>("ingest.repository")
        /// Download and parse the logs of a chunk of runs.
        static let logs = JobKind<ChunkJob>("ingest.logs")
        /// Create worktrees for a chunk of commits.
        static let worktrees = JobKind<ChunkJob>("ingest.worktrees")
        static let all = [repository.erased, logs.erased, worktrees.erased]
    }

    struct RepositoryJob: Codable, Sendable {
        var pipelineId: String
    }

    struct ChunkJob: Codable, Sendable {
        var pipelineId: String
        var runIds: [Int64]
    }

    struct Pipeline: Sendable {
        var pipelineId: String
        var githubId: Int64
        var fullName: String
        var resources: Set<IngestionResource>
    }

    struct PendingBuild: Sendable {
        var runId: Int64
        var headSha: String
        var event: String
        var effectiveSha: String?
    }

    // MARK: Requests

    /// Records the pipeline and its new builds and queues the repository job, in one transaction.
    func start(_ request: IngestionRequest, queue: JobQueue) async throws -> Int {
        // A worktree is a checkout of the build's commit: the commit must be had first.
        let wants = Set(request.resources).union(request.resources.contains(.gitWorktree) ? [.gitHistory] : [])
        func initial(_ resource: IngestionResource) -> String { wants.contains(resource) ? ResourceStatus.pending.rawValue : ResourceStatus.skipped.rawValue }
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO \(unescaped: schema).pipelines (pipeline_id, github_id, full_name, resources)
                VALUES (\(request.pipelineId), \(request.githubId), \(request.fullName), \(wants.map(\.rawValue).sorted()))
                ON CONFLICT (pipeline_id) DO UPDATE SET resources = ARRAY(SELECT DISTINCT unnest(pipelines.resources || EXCLUDED.resources)),
                    status = 'ingesting', worktrees_released = false, updated_at = now()
                """, logger: logger)
            let rows = try await connection.query(
                """
                INSERT INTO \(unescaped: schema).ingestion_builds
                    (pipeline_id, run_id, github_id, head_sha, event, run_created_at, history_status, worktree_status, logs_status)
                SELECT \(request.pipelineId), run_id, \(request.githubId), head_sha, event, created_at,
                    \(initial(.gitHistory)), \(initial(.gitWorktree)), \(initial(.buildLogs))
                FROM unnest(\(request.builds.map(\.runId)), \(request.builds.map(\.headSha)), \(request.builds.map(\.event)), \(request.builds.map(\.createdAt)))
                    AS b(run_id, head_sha, event, created_at)
                ON CONFLICT (pipeline_id, run_id) DO NOTHING
                RETURNING run_id
                """, logger: logger
            ).collect()
            try await queue.enqueue(
                Jobs.repository, RepositoryJob(pipelineId: request.pipelineId),
                options: JobOptions(priority: 5, maxAttempts: 5), on: connection)
            return rows.count
        }
    }

    /// Puts a pipeline's failed builds back to pending (their failed resources only) and queues the repository job.
    /// Sets the pipeline's failed builds pending again and queues the repository job for them (in
    /// `connection`'s transaction); returns how many.
    func retryFailed(pipelineId: String, queue: JobQueue, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: schema).ingestion_builds SET status = 'pending', reason = NULL, attempts = attempts + 1, updated_at = now(),
                history_status = CASE WHEN history_status = 'failed' THEN 'pending' ELSE history_status END,
                history_error = CASE WHEN history_status = 'failed' THEN NULL ELSE history_error END,
                worktree_status = CASE WHEN worktree_status = 'failed' THEN 'pending' ELSE worktree_status END,
                worktree_error = CASE WHEN worktree_status = 'failed' THEN NULL ELSE worktree_error END,
                logs_status = CASE WHEN logs_status = 'failed' THEN 'pending' ELSE logs_status END,
                logs_error = CASE WHEN logs_status = 'failed' THEN NULL ELSE logs_error END
            WHERE pipeline_id = \(pipelineId) AND status = 'failed'
            RETURNING run_id
            """, logger: logger
        ).collect()
        if !rows.isEmpty {
            try await queue.enqueue(
                Jobs.repository, RepositoryJob(pipelineId: pipelineId),
                options: JobOptions(priority: 5, maxAttempts: 5), on: connection)
        }
        return rows.count
    }

    func pipeline(_ pipelineId: String) async throws -> Pipeline? {
        let rows = try await client.query(
            "SELECT github_id, full_name, resources FROM \(unescaped: schema).pipelines WHERE pipeline_id = \(pipelineId)",
            logger: logger)
        for try await (githubId, fullName, resources) in rows.decode((Int64, String, [String]).self) {
            return Pipeline(pipelineId: pipelineId, githubId: githubId, fullName: fullName, resources: Set(resources.compactMap(IngestionResource.init(rawValue:))))
        }
        return nil
    }

    // MARK: Resource status

    /// Builds of a pipeline whose `resource` is pending or in progress (a crashed run leaves the latter).
    func unfinished(_ resource: IngestionResource, pipelineId: String) async throws -> [PendingBuild] {
        let column = Self.column(resource)
        let rows = try await client.query(
            """
            SELECT run_id, head_sha, event, effective_sha FROM \(unescaped: schema).ingestion_builds
            WHERE pipeline_id = \(pipelineId) AND \(unescaped: column)_status IN ('pending', 'in_progress')
            ORDER BY run_id
            """, logger: logger)
        var builds: [PendingBuild] = []
        for try await (runId, headSha, event, effectiveSha) in rows.decode((Int64, String, String, String?).self) {
            builds.append(PendingBuild(runId: runId, headSha: headSha, event: event, effectiveSha: effectiveSha))
        }
        return builds
    }

    /// Hands out the work that follows the commits, in `connection`'s transaction: worktrees of
    /// builds whose commit could not be had end as their commit did; pending worktrees of builds
    /// with a commit, and pending logs, are marked in progress and returned for jobs to take.
    func dispatch(pipelineId: String, on connection: PostgresConnection) async throws -> (worktrees: [Int64], logs: [Int64]) {
        try await connection.query(
            """
            UPDATE \(unescaped: schema).ingestion_builds SET worktree_status = history_status, worktree_finished_at = now(), updated_at = now(),
                worktree_error = 'the commit could not be had (see git_history)'
            WHERE pipeline_id = \(pipelineId) AND worktree_status = 'pending' AND history_status IN ('failed', 'missing')
            """, logger: logger)
        let worktrees = try await connection.query(
            """
            UPDATE \(unescaped: schema).ingestion_builds SET worktree_status = 'in_progress', worktree_started_at = now(), updated_at = now()
            WHERE pipeline_id = \(pipelineId) AND worktree_status = 'pending' AND history_status = 'completed'
            RETURNING run_id
            """, logger: logger
        ).collect().map { try $0.decode(Int64.self) }
        let logs = try await connection.query(
            """
            UPDATE \(unescaped: schema).ingestion_builds SET logs_status = 'in_progress', logs_started_at = now(), updated_at = now()
            WHERE pipeline_id = \(pipelineId) AND logs_status = 'pending'
            RETURNING run_id
            """, logger: logger
        ).collect().map { try $0.decode(Int64.self) }
        return (worktrees.sorted(), logs.sorted())
    }

    /// Marks `resource` of the given builds in progress.
    func begin(_ resource: IngestionResource, pipelineId: String, runIds: [Int64]) async throws {
        let column = Self.column(resource)
        try await client.query(
            """
            UPDATE \(unescaped: schema).ingestion_builds SET \(unescaped: column)_status = 'in_progress',
                \(unescaped: column)_started_at = now(), updated_at = now()
            WHERE pipeline_id = \(pipelineId) AND run_id = ANY(\(runIds)) AND \(unescaped: column)_status IN ('pending', 'in_progress')
            """, logger: logger)
    }

    /// Records how `resource` ended for the given builds.
    func finish(_ resource: IngestionResource, pipelineId: String, runIds: [Int64], status: ResourceStatus, error: String? = nil) async throws {
        let column = Self.column(resource)
        try await client.query(
            """
            UPDATE \(unescaped: schema).ingestion_builds SET \(unescaped: column)_status = \(status.rawValue),
                \(unescaped: column)_error = \(error), \(unescaped: column)_finished_at = now(), updated_at = now()
            WHERE pipeline_id = \(pipelineId) AND run_id = ANY(\(runIds))
            """, logger: logger)
    }

    /// Records the commit each build's features will read, and how it was had (one statement).
    func setCommits(pipelineId: String, _ entries: [(runId: Int64, sha: String, source: String)]) async throws {
        guard !entries.isEmpty else { return }
        try await client.query(
            """
            UPDATE \(unescaped: schema).ingestion_builds AS b SET effective_sha = e.sha, commit_source = e.source,
                history_status = 'completed', history_error = NULL, history_finished_at = now(), updated_at = now()
            FROM unnest(\(entries.map(\.runId))::int8[], \(entries.map(\.sha))::text[], \(entries.map(\.source))::text[]) AS e (run_id, sha, source)
            WHERE b.pipeline_id = \(pipelineId) AND b.run_id = e.run_id
            """, logger: logger)
    }

    static func column(_ resource: IngestionResource) -> String {
        switch resource {
        case .gitHistory: "history"
        case .gitWorktree: "worktree"
        case .buildLogs: "logs"
        }
    }

    // MARK: Final status

    /// Sets the final status of every build whose resources have all ended, and returns the
    /// pipeline's counts and whether nothing is left to do.
    /// Gives every pending build whose resources have all ended its final status; returns those.
    func settle(pipelineId: String) async throws -> [SettledBuild] {
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).ingestion_builds SET updated_at = now(),
                status = CASE
                    WHEN 'missing' IN (history_status, worktree_status, logs_status) THEN 'missing_resource'
                    WHEN 'failed' IN (history_status, worktree_status, logs_status) THEN 'failed'
                    ELSE 'ingested' END,
                reason = CASE
                    WHEN history_status IN ('missing', 'failed') THEN 'git_history: ' || coalesce(history_error, history_status)
                    WHEN worktree_status IN ('missing', 'failed') THEN 'git_worktree: ' || coalesce(worktree_error, worktree_status)
                    WHEN logs_status IN ('missing', 'failed') THEN 'build_logs: ' || coalesce(logs_error, logs_status)
                    ELSE NULL END
            WHERE pipeline_id = \(pipelineId) AND status = 'pending'
                AND history_status NOT IN ('pending', 'in_progress')
                AND worktree_status NOT IN ('pending', 'in_progress')
                AND logs_status NOT IN ('pending', 'in_progress')
            RETURNING run_id, status, reason
            """, logger: logger)
        var settled: [SettledBuild] = []
        for try await (runId, status, reason) in rows.decode((Int64, String, String?).self) {
            settled.append(SettledBuild(runId: runId, status: IngestionBuildStatus(rawValue: status) ?? .failed, reason: reason))
        }
        return settled.sorted { $0.runId < $1.runId }
    }

    /// Locks the pipeline's row until `connection`'s transaction ends: a report's counts read
    /// after it belong to its sequence (a retry that took an earlier sequence has committed).
    func lockPipeline(_ pipelineId: String, on connection: PostgresConnection) async throws {
        _ = try await connection.query(
            "SELECT 1 FROM \(unescaped: schema).pipelines WHERE pipeline_id = \(pipelineId) FOR UPDATE", logger: logger
        ).collect()
    }

    func counts(pipelineId: String) async throws -> IngestionCounts {
        try await client.withConnection { try await counts(pipelineId: pipelineId, on: $0) }
    }

    func counts(pipelineId: String, on connection: PostgresConnection) async throws -> IngestionCounts {
        let rows = try await connection.query(
            "SELECT status, count(*)::int8 FROM \(unescaped: schema).ingestion_builds WHERE pipeline_id = \(pipelineId) GROUP BY status",
            logger: logger)
        var counts = IngestionCounts()
        for try await (status, count) in rows.decode((String, Int64).self) {
            let count = Int(count)
            counts.total += count
            switch IngestionBuildStatus(rawValue: status) {
            case .pending: counts.pending += count
            case .ingested: counts.ingested += count
            case .missingResource: counts.missingResource += count
            case .failed: counts.failed += count
            case nil: break
            }
        }
        return counts
    }

    /// Records a pipeline's status and returns the next report sequence number (in `connection`'s transaction).
    func nextSequence(pipelineId: String, status: IngestionStatus, message: String?, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: schema).pipelines SET sequence = sequence + 1, status = \(status.rawValue), message = \(message), updated_at = now()
            WHERE pipeline_id = \(pipelineId) RETURNING sequence
            """, logger: logger
        ).collect()
        return Int(try rows.first?.decode(Int32.self) ?? 0)
    }

    // MARK: Listing

    func builds(_ params: IngestionBuildsParams) async throws -> IngestionBuildPage {
        let limit = min(max(params.limit, 1), 1000)
        let before = params.beforeRunId ?? Int64.max
        let rows = try await client.query(
            """
            SELECT run_id, head_sha, effective_sha, commit_source, status, reason, attempts, updated_at,
                history_status, history_error, history_started_at, history_finished_at,
                worktree_status, worktree_error, worktree_started_at, worktree_finished_at,
                logs_status, logs_error, logs_started_at, logs_finished_at
            FROM \(unescaped: schema).ingestion_builds
            WHERE pipeline_id = \(params.pipelineId) AND run_id < \(before) AND (\(params.status?.rawValue)::text IS NULL OR status = \(params.status?.rawValue))
            ORDER BY run_id DESC LIMIT \(limit)
            """, logger: logger)
        var builds: [IngestionBuildRecord] = []
        for try await row in rows {
            let columns = row.makeRandomAccess()
            func state(_ resource: IngestionResource, _ offset: Int) throws -> ResourceState {
                ResourceState(
                    resource: resource,
                    status: ResourceStatus(rawValue: try columns[offset].decode(String.self)) ?? .pending,
                    error: try columns[offset + 1].decode(String?.self),
                    startedAt: try columns[offset + 2].decode(Date?.self).map(Self.stamp),
                    finishedAt: try columns[offset + 3].decode(Date?.self).map(Self.stamp))
            }
            builds.append(IngestionBuildRecord(
                runId: try columns[0].decode(Int64.self),
                headSha: try columns[1].decode(String.self),
                effectiveSha: try columns[2].decode(String?.self),
                commitSource: try columns[3].decode(String?.self),
                status: IngestionBuildStatus(rawValue: try columns[4].decode(String.self)) ?? .pending,
                reason: try columns[5].decode(String?.self),
                resources: [try state(.gitHistory, 8), try state(.gitWorktree, 12), try state(.buildLogs, 16)],
                attempts: Int(try columns[6].decode(Int32.self)),
                updatedAt: Self.stamp(try columns[7].decode(Date.self))))
        }
        return IngestionBuildPage(counts: try await counts(pipelineId: params.pipelineId), builds: builds)
    }

    static func stamp(_ date: Date) -> String { date.formatted(.iso8601) }
}
