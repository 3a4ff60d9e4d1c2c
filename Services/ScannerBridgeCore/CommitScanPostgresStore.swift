import BuildRiskContracts
import BuildRiskRuntime
import Crypto
import Foundation
import Logging
import PostgresNIO

/// The scanner-bridge's schema: one row per (repository, commit, configuration) and tool — a scan
/// shared by every requester that asks for it — and the requesters with the metrics each selected.
public struct CommitScanPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public init(client: PostgresClient, schema: String, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    public static let migrations: [Migration] = [
        Migration(version: 100, name: "commit_scans", statements: [
            """
            CREATE TABLE {schema}.trivy_commit_scans (
                id bigserial PRIMARY KEY,
                github_id bigint NOT NULL,
                full_name text NOT NULL,
                commit_sha text NOT NULL,
                config_hash text NOT NULL,
                options jsonb NOT NULL,
                status text NOT NULL DEFAULT 'pending',
                metrics jsonb,
                error text,
                attempts integer NOT NULL DEFAULT 0,
                requested_at timestamptz NOT NULL DEFAULT now(),
                started_at timestamptz,
                finished_at timestamptz,
                UNIQUE (github_id, commit_sha, config_hash)
            )
            """,
            """
            CREATE TABLE {schema}.sonar_commit_scans (
                id bigserial PRIMARY KEY,
                github_id bigint NOT NULL,
                full_name text NOT NULL,
                commit_sha text NOT NULL,
                config_hash text NOT NULL,
                options jsonb NOT NULL,
                project_key text NOT NULL,
                ce_task_id text,
                status text NOT NULL DEFAULT 'pending',
                metrics jsonb,
                error text,
                attempts integer NOT NULL DEFAULT 0,
                requested_at timestamptz NOT NULL DEFAULT now(),
                started_at timestamptz,
                finished_at timestamptz,
                UNIQUE (github_id, commit_sha, config_hash)
            )
            """,
            "CREATE INDEX sonar_commit_scans_task ON {schema}.sonar_commit_scans (ce_task_id)",
            "CREATE INDEX sonar_commit_scans_project ON {schema}.sonar_commit_scans (project_key)",
            """
            CREATE TABLE {schema}.scan_requesters (
                tool text NOT NULL,
                scan_id bigint NOT NULL,
                pipeline_id text NOT NULL,
                selected_metrics jsonb NOT NULL,
                requested_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tool, scan_id, pipeline_id)
            )
            """,
            "CREATE INDEX scan_requesters_pipeline ON {schema}.scan_requesters (pipeline_id)",
        ])
    ]

    /// A scan as a job reads it.
    struct Scan: Sendable {
        var id: Int64
        var tool: ScanToolName
        var githubId: Int64
        var fullName: String
        var commitSha: String
        var optionsJSON: String
        var projectKey: String?
        var status: CommitScanStatus
        var attempts: Int
    }

    /// A scan row that one request named.
    struct Requested: Sendable {
        var id: Int64
        var commitSha: String
        var created: Bool
        var status: CommitScanStatus
        var attempts: Int
        var metrics: [String: Double]?
    }

    /// A requester of a finished scan.
    struct Requester: Sendable {
        var pipelineId: String
        var selection: [String]
    }

    static func table(_ tool: ScanToolName) -> String {
        switch tool {
        case .trivy: "trivy_commit_scans"
        case .sonar: "sonar_commit_scans"
        }
    }

    /// SHA-256 of a configuration's canonical JSON (sorted keys): equal configurations share scans.
    static func hash(_ options: some Encodable) throws -> (hash: String, json: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(options)
        return (SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined(), String(decoding: data, as: UTF8.self))
    }

    /// Records the scans of `commits` (one per commit, existing ones shared) and the requester of
    /// each, on `connection`. `projectKeys` gives SonarQube's key per commit.
    func request(
        tool: ScanToolName, githubId: Int64, fullName: String, commits: [String], configHash: String, optionsJSON: String,
        projectKeys: [String]?, pipelineId: String, selection: [String], on connection: PostgresConnection
    ) async throws -> [Requested] {
        let table = Self.table(tool)
        let selectionJSON = String(decoding: try JSONEncoder().encode(selection), as: UTF8.self)
        let rows: PostgresRowSequence
        if let projectKeys {
            rows = try await connection.query(
                """
                INSERT INTO \(unescaped: schema).sonar_commit_scans (github_id, full_name, commit_sha, config_hash, options, project_key)
                SELECT \(githubId), \(fullName), c.sha, \(configHash), \(optionsJSON)::jsonb, c.key FROM unnest(\(commits)::text[], \(projectKeys)::text[]) AS c(sha, key)
                ON CONFLICT (github_id, commit_sha, config_hash) DO UPDATE SET full_name = EXCLUDED.full_name
                RETURNING id, commit_sha, xmax = 0, status, attempts, metrics::text
                """, logger: logger)
        } else {
            rows = try await connection.query(
                """
                INSERT INTO \(unescaped: schema).\(unescaped: table) (github_id, full_name, commit_sha, config_hash, options)
                SELECT \(githubId), \(fullName), c.sha, \(configHash), \(optionsJSON)::jsonb FROM unnest(\(commits)::text[]) AS c(sha)
                ON CONFLICT (github_id, commit_sha, config_hash) DO UPDATE SET full_name = EXCLUDED.full_name
                RETURNING id, commit_sha, xmax = 0, status, attempts, metrics::text
                """, logger: logger)
        }
        var requested: [Requested] = []
        for try await (id, sha, created, status, attempts, metrics) in rows.decode((Int64, String, Bool, String, Int32, String?).self) {
            requested.append(Requested(
                id: id, commitSha: sha, created: created, status: CommitScanStatus(rawValue: status) ?? .pending, attempts: Int(attempts),
                metrics: try metrics.map { try JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) }))
        }
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).scan_requesters (tool, scan_id, pipeline_id, selected_metrics)
            SELECT \(tool.rawValue), s.id, \(pipelineId), \(selectionJSON)::jsonb FROM unnest(\(requested.map(\.id))::int8[]) AS s(id)
            ON CONFLICT (tool, scan_id, pipeline_id) DO UPDATE SET selected_metrics = EXCLUDED.selected_metrics
            """, logger: logger)
        return requested
    }

    /// Marks a pending (or, after a crash, running) scan running and counts an attempt; nil when the
    /// scan already ended or is gone.
    func start(_ tool: ScanToolName, id: Int64) async throws -> Scan? {
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).\(unescaped: Self.table(tool)) SET status = 'running', started_at = now(), attempts = attempts + 1, error = NULL
            WHERE id = \(id) AND status IN ('pending', 'running')
            RETURNING \(unescaped: Self.scanColumns(tool))
            """, logger: logger)
        return try await Self.firstScan(rows, tool)
    }

    func scan(_ tool: ScanToolName, id: Int64) async throws -> Scan? {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.scanColumns(tool)) FROM \(unescaped: schema).\(unescaped: Self.table(tool)) WHERE id = \(id)
            """, logger: logger)
        return try await Self.firstScan(rows, tool)
    }

    static func scanColumns(_ tool: ScanToolName) -> String {
        "id, github_id, full_name, commit_sha, options::text, \(tool == .sonar ? "project_key" : "NULL::text"), status, attempts"
    }

    static func firstScan(_ rows: PostgresRowSequence, _ tool: ScanToolName) async throws -> Scan? {
        for try await row in rows.decode((Int64, Int64, String, String, String, String?, String, Int32).self) {
            return Scan(
                id: row.0, tool: tool, githubId: row.1, fullName: row.2, commitSha: row.3, optionsJSON: row.4, projectKey: row.5,
                status: CommitScanStatus(rawValue: row.6) ?? .running, attempts: Int(row.7))
        }
        return nil
    }

    /// Adds tool runs a scan took beyond the one `start` counted (Trivy's timeout retries).
    func addAttempts(_ tool: ScanToolName, id: Int64, _ extra: Int, on connection: PostgresConnection) async throws {
        guard extra > 0 else { return }
        try await connection.query(
            "UPDATE \(unescaped: schema).\(unescaped: Self.table(tool)) SET attempts = attempts + \(extra) WHERE id = \(id)", logger: logger)
    }

    /// Completes a running scan with its metrics on `connection`; false when it was not running (a
    /// repeated webhook, a scan failed meanwhile).
    func complete(_ tool: ScanToolName, id: Int64, metrics: [String: Double], on connection: PostgresConnection) async throws -> Bool {
        let json = String(decoding: try JSONEncoder().encode(metrics), as: UTF8.self)
        return try await !connection.query(
            """
            UPDATE \(unescaped: schema).\(unescaped: Self.table(tool)) SET status = 'completed', metrics = \(json)::jsonb, error = NULL, finished_at = now()
            WHERE id = \(id) AND status = 'running' RETURNING id
            """, logger: logger
        ).collect().isEmpty
    }

    /// Fails a scan that has not ended, with the reason, on `connection`.
    func fail(_ tool: ScanToolName, id: Int64, reason: String, on connection: PostgresConnection) async throws -> Bool {
        try await !connection.query(
            """
            UPDATE \(unescaped: schema).\(unescaped: Self.table(tool)) SET status = 'failed', error = \(reason), finished_at = now()
            WHERE id = \(id) AND status IN ('pending', 'running') RETURNING id
            """, logger: logger
        ).collect().isEmpty
    }

    func requesters(_ tool: ScanToolName, scanId: Int64, on connection: PostgresConnection) async throws -> [Requester] {
        let rows = try await connection.query(
            "SELECT pipeline_id, selected_metrics::text FROM \(unescaped: schema).scan_requesters WHERE tool = \(tool.rawValue) AND scan_id = \(scanId)",
            logger: logger)
        var requesters: [Requester] = []
        for try await (pipelineId, selection) in rows.decode((String, String).self) {
            requesters.append(Requester(pipelineId: pipelineId, selection: try JSONDecoder().decode([String].self, from: Data(selection.utf8))))
        }
        return requesters
    }

    // MARK: SonarQube

    func recordSubmission(id: Int64, ceTaskID: String) async throws {
        try await client.query(
            "UPDATE \(unescaped: schema).sonar_commit_scans SET ce_task_id = \(ceTaskID) WHERE id = \(id) AND status = 'running'", logger: logger)
    }

    /// The scan a webhook is about: its Compute Engine task, or a running scan of the project whose
    /// submission is not recorded yet (the webhook can outrun the scanner's exit).
    func sonarScan(ceTaskID: String, projectKey: String) async throws -> (id: Int64, status: CommitScanStatus)? {
        let rows = try await client.query(
            """
            SELECT id, status FROM \(unescaped: schema).sonar_commit_scans
            WHERE ce_task_id = \(ceTaskID) OR (project_key = \(projectKey) AND status = 'running' AND ce_task_id IS NULL)
            ORDER BY (ce_task_id IS NOT NULL) DESC, started_at DESC LIMIT 1
            """, logger: logger)
        for try await (id, status) in rows.decode((Int64, String).self) { return (id, CommitScanStatus(rawValue: status) ?? .running) }
        return nil
    }

    // MARK: Status and retry

    func summary(pipelineId: String) async throws -> ScanStatusSummary {
        var counts: [ScanToolName: ScanCounts] = [:]
        var failures: [FailedCommitScan] = []
        for tool in ScanToolName.allCases {
            let table = Self.table(tool)
            let rows = try await client.query(
                """
                SELECT s.status, count(*)::int8 FROM \(unescaped: schema).\(unescaped: table) s
                JOIN \(unescaped: schema).scan_requesters r ON r.tool = \(tool.rawValue) AND r.scan_id = s.id
                WHERE r.pipeline_id = \(pipelineId) GROUP BY s.status
                """, logger: logger)
            for try await (status, count) in rows.decode((String, Int64).self) {
                var entry = counts[tool] ?? ScanCounts(tool: tool)
                switch CommitScanStatus(rawValue: status) {
                case .pending: entry.pending += Int(count)
                case .running: entry.running += Int(count)
                case .completed: entry.completed += Int(count)
                case .failed: entry.failed += Int(count)
                case nil: break
                }
                counts[tool] = entry
            }
            let failed = try await client.query(
                """
                SELECT s.commit_sha, coalesce(s.error, ''), s.attempts FROM \(unescaped: schema).\(unescaped: table) s
                JOIN \(unescaped: schema).scan_requesters r ON r.tool = \(tool.rawValue) AND r.scan_id = s.id
                WHERE r.pipeline_id = \(pipelineId) AND s.status = 'failed' ORDER BY s.finished_at DESC LIMIT 200
                """, logger: logger)
            for try await (sha, error, attempts) in failed.decode((String, String, Int32).self) {
                failures.append(FailedCommitScan(tool: tool, commitSha: sha, error: error, attempts: Int(attempts)))
            }
        }
        return ScanStatusSummary(pipelineId: pipelineId, counts: ScanToolName.allCases.compactMap { counts[$0] }, failures: failures)
    }

    func hasRequester(pipelineId: String) async throws -> Bool {
        try await !client.query(
            "SELECT 1 FROM \(unescaped: schema).scan_requesters WHERE pipeline_id = \(pipelineId) LIMIT 1", logger: logger
        ).collect().isEmpty
    }

    /// Sets a requester's failed scans of `tool` (of one commit, or all) pending again, on `connection`; returns their ids.
    func resetFailed(_ tool: ScanToolName, pipelineId: String, commitSha: String? = nil, on connection: PostgresConnection) async throws -> [Int64] {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: schema).\(unescaped: Self.table(tool)) s SET status = 'pending', error = NULL\(unescaped: tool == .sonar ? ", ce_task_id = NULL" : "")
            FROM \(unescaped: schema).scan_requesters r
            WHERE r.tool = \(tool.rawValue) AND r.scan_id = s.id AND r.pipeline_id = \(pipelineId) AND s.status = 'failed'
              AND (\(commitSha)::text IS NULL OR s.commit_sha = \(commitSha))
            RETURNING s.id
            """, logger: logger)
        var ids: [Int64] = []
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids
    }

    /// A requester's commit scans, by commit then tool, each with the metrics the requester selected.
    func commits(_ params: CommitScansParams) async throws -> CommitScanPage {
        let limit = min(max(params.limit, 1), 1000)
        var records: [CommitScanRecord] = []
        for tool in params.tool.map({ [$0] }) ?? ScanToolName.allCases {
            let rows = try await client.query(
                """
                SELECT s.commit_sha, s.status, s.attempts, s.error, s.metrics::text, r.selected_metrics::text, s.requested_at, s.started_at, s.finished_at
                FROM \(unescaped: schema).\(unescaped: Self.table(tool)) s
                JOIN \(unescaped: schema).scan_requesters r ON r.tool = \(tool.rawValue) AND r.scan_id = s.id
                WHERE r.pipeline_id = \(params.pipelineId) AND (\(params.commitSha)::text IS NULL OR s.commit_sha = \(params.commitSha))
                  AND (\(params.status?.rawValue)::text IS NULL OR s.status = \(params.status?.rawValue))
                  AND (\(params.afterCommit)::text IS NULL OR s.commit_sha > \(params.afterCommit))
                ORDER BY s.commit_sha LIMIT \(limit)
                """, logger: logger)
            for try await row in rows.decode((String, String, Int32, String?, String?, String, Date, Date?, Date?).self) {
                let selection = try JSONDecoder().decode([String].self, from: Data(row.5.utf8))
                let metrics = try row.4.map { ScanMetrics(try JSONDecoder().decode([String: Double].self, from: Data($0.utf8))) }
                records.append(CommitScanRecord(
                    tool: tool, commitSha: row.0, status: CommitScanStatus(rawValue: row.1) ?? .failed, attempts: Int(row.2), error: row.3,
                    metrics: metrics?.filtered(to: selection.isEmpty ? nil : selection).values, requestedAt: row.6.formatted(.iso8601),
                    startedAt: row.7?.formatted(.iso8601), finishedAt: row.8?.formatted(.iso8601)))
            }
        }
        // Both tools' rows merged by commit; a page ends on a whole commit.
        records.sort { ($0.commitSha, $0.tool.rawValue) < ($1.commitSha, $1.tool.rawValue) }
        var commits = Set<String>()
        var page: [CommitScanRecord] = []
        for record in records {
            if !commits.contains(record.commitSha) {
                guard commits.count < limit else { break }
                commits.insert(record.commitSha)
            }
            page.append(record)
        }
        let full = Set(records.map(\.commitSha)).count > commits.count || commits.count == limit
        return CommitScanPage(scans: page, nextAfterCommit: full ? page.last?.commitSha : nil)
    }
}
