import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The dataset-splitter's schema: the latest quality report per version, the per-build rows an
/// evaluation in progress keeps (duplicates and the worst builds are found by SQL over them, so
/// the service never holds a version in memory), and export jobs.
public struct DatasetSplitterPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public static let migrations: [Migration] = [
        Migration(version: 100, name: "dataset_analysis", statements: [
            """
            CREATE TABLE {schema}.quality_reports (
                version_id text PRIMARY KEY,
                status text NOT NULL,
                request_id text NOT NULL,
                requested_at timestamptz NOT NULL DEFAULT now(),
                report jsonb,
                error text,
                completed_at timestamptz
            )
            """,
            """
            CREATE TABLE {schema}.quality_rows (
                evaluation bigint NOT NULL,
                repository text NOT NULL,
                run_id bigint NOT NULL,
                row_hash bigint,
                penalty integer NOT NULL,
                reasons text[] NOT NULL
            )
            """,
            "CREATE INDEX quality_rows_evaluation ON {schema}.quality_rows (evaluation, run_id)",
            """
            CREATE TABLE {schema}.export_jobs (
                id bigserial PRIMARY KEY,
                version_id text NOT NULL,
                request_id text NOT NULL,
                format text NOT NULL,
                status text NOT NULL DEFAULT 'queued',
                rows_written bigint NOT NULL DEFAULT 0,
                total_rows bigint,
                bytes bigint,
                file_name text,
                error text,
                created_at timestamptz NOT NULL DEFAULT now(),
                started_at timestamptz,
                finished_at timestamptz,
                UNIQUE (version_id, request_id)
            )
            """,
        ])
    ]

    // MARK: Quality reports

    /// Marks the version's evaluation pending for `requestId` (the previous report stays until replaced).
    func requestEvaluation(versionId: String, requestId: String, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).quality_reports (version_id, status, request_id) VALUES (\(versionId), 'pending', \(requestId))
            ON CONFLICT (version_id) DO UPDATE SET status = 'pending', request_id = EXCLUDED.request_id, requested_at = now(), error = NULL
            """, logger: logger)
    }

    /// Sets the status of the version's evaluation of `requestId`; false when a newer request or a forget replaced it.
    func setEvaluationStatus(versionId: String, requestId: String, _ status: DatasetEvaluationStatus, error: String? = nil) async throws -> Bool {
        try await client.query(
            """
            UPDATE \(unescaped: schema).quality_reports SET status = \(status.rawValue), error = \(error)
            WHERE version_id = \(versionId) AND request_id = \(requestId) RETURNING 1
            """, logger: logger
        ).collect().count == 1
    }

    func completeEvaluation(versionId: String, requestId: String, report: DatasetQualityReport, evaluation: Int64) async throws {
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                UPDATE \(unescaped: schema).quality_reports SET status = 'completed', report = \(json)::jsonb, error = NULL, completed_at = now()
                WHERE version_id = \(versionId) AND request_id = \(requestId)
                """, logger: logger)
            try await connection.query("DELETE FROM \(unescaped: schema).quality_rows WHERE evaluation = \(evaluation)", logger: logger)
        }
    }

    func qualityAnswer(versionId: String) async throws -> DatasetQualityAnswer? {
        let rows = try await client.query(
            """
            SELECT status, requested_at, report::text, error FROM \(unescaped: schema).quality_reports WHERE version_id = \(versionId)
            """, logger: logger)
        for try await (status, requestedAt, report, error) in rows.decode((String, Date, String?, String?).self) {
            return DatasetQualityAnswer(
                versionId: versionId, status: DatasetEvaluationStatus(rawValue: status) ?? .failed, requestedAt: requestedAt.formatted(.iso8601),
                report: try report.map { try JSONDecoder().decode(DatasetQualityReport.self, from: Data($0.utf8)) }, error: error)
        }
        return nil
    }

    // MARK: An evaluation's per-build rows

    struct BuildRow: Sendable {
        var repository: String
        var runId: Int64
        var rowHash: Int64?
        var penalty: Int
        var reasons: [String]
    }

    func clearRows(evaluation: Int64) async throws {
        try await client.query("DELETE FROM \(unescaped: schema).quality_rows WHERE evaluation = \(evaluation)", logger: logger)
    }

    func insertRows(_ rows: [BuildRow], evaluation: Int64) async throws {
        guard !rows.isEmpty else { return }
        // Reasons travel as one text per build (joined by a unit separator) since unnest flattens nested arrays.
        let separator = "\u{1F}"
        try await client.query(
            """
            INSERT INTO \(unescaped: schema).quality_rows (evaluation, repository, run_id, row_hash, penalty, reasons)
            SELECT \(evaluation), r, id, CASE WHEN hh THEN h END, p, CASE WHEN t = '' THEN '{}'::text[] ELSE string_to_array(t, \(separator)) END
            FROM unnest(\(rows.map(\.repository))::text[], \(rows.map(\.runId))::int8[], \(rows.map { $0.rowHash ?? 0 })::int8[],
                        \(rows.map { $0.rowHash != nil })::bool[], \(rows.map { Int32($0.penalty) })::int4[],
                        \(rows.map { $0.reasons.joined(separator: separator) })::text[]) AS u(r, id, h, hh, p, t)
            """, logger: logger)
    }

    struct DuplicateCounts: Sendable {
        var duplicateRunIds = 0
        var extraRowsByRunId = 0
        var identicalGroups = 0
        var extraIdenticalRows = 0
    }

    func duplicates(evaluation: Int64) async throws -> DuplicateCounts {
        var counts = DuplicateCounts()
        let byRun = try await client.query(
            """
            SELECT count(*)::int8, coalesce(sum(c - 1), 0)::int8 FROM (
                SELECT count(*) AS c FROM \(unescaped: schema).quality_rows WHERE evaluation = \(evaluation) GROUP BY run_id HAVING count(*) > 1) d
            """, logger: logger)
        for try await (groups, extra) in byRun.decode((Int64, Int64).self) {
            counts.duplicateRunIds = Int(groups)
            counts.extraRowsByRunId = Int(extra)
        }
        let byHash = try await client.query(
            """
            SELECT count(*)::int8, coalesce(sum(c - 1), 0)::int8 FROM (
                SELECT count(*) AS c FROM \(unescaped: schema).quality_rows WHERE evaluation = \(evaluation) AND row_hash IS NOT NULL
                GROUP BY row_hash HAVING count(*) > 1) d
            """, logger: logger)
        for try await (groups, extra) in byHash.decode((Int64, Int64).self) {
            counts.identicalGroups = Int(groups)
            counts.extraIdenticalRows = Int(extra)
        }
        return counts
    }

    /// The builds with the highest penalty, a duplicate (by run id or identical values) counting 5 more.
    func worstBuilds(evaluation: Int64, limit: Int) async throws -> [DatasetBuildIssue] {
        let rows = try await client.query(
            """
            SELECT repository, run_id, penalty + CASE WHEN dup_run > 1 OR dup_row > 1 THEN 5 ELSE 0 END AS p, reasons, dup_run, dup_row FROM (
                SELECT repository, run_id, penalty, reasons, count(*) OVER (PARTITION BY run_id) AS dup_run,
                    CASE WHEN row_hash IS NULL THEN 1 ELSE count(*) OVER (PARTITION BY row_hash) END AS dup_row
                FROM \(unescaped: schema).quality_rows WHERE evaluation = \(evaluation)) q
            WHERE penalty > 0 OR dup_run > 1 OR dup_row > 1
            ORDER BY p DESC, run_id DESC LIMIT \(limit)
            """, logger: logger)
        var issues: [DatasetBuildIssue] = []
        for try await (repository, runId, penalty, reasons, dupRun, dupRow) in rows.decode((String, Int64, Int32, [String], Int64, Int64).self) {
            var all = reasons
            if dupRun > 1 { all.append("run id listed \(dupRun) times") }
            if dupRow > 1 { all.append("same feature values as \(dupRow - 1) other build\(dupRow == 2 ? "" : "s")") }
            issues.append(DatasetBuildIssue(repository: repository, runId: runId, penalty: Int(penalty), reasons: all))
        }
        return issues
    }

    // MARK: Export jobs

    /// Records an export job (nothing when this request made one already); its id and whether it is new.
    func createExport(versionId: String, requestId: String, format: DatasetExportFormat, on connection: PostgresConnection) async throws -> (Int64, Bool) {
        let inserted = try await connection.query(
            """
            INSERT INTO \(unescaped: schema).export_jobs (version_id, request_id, format) VALUES (\(versionId), \(requestId), \(format.rawValue))
            ON CONFLICT (version_id, request_id) DO NOTHING RETURNING id
            """, logger: logger
        ).collect()
        if let id = try inserted.first?.decode(Int64.self) { return (id, true) }
        let existing = try await connection.query(
            "SELECT id FROM \(unescaped: schema).export_jobs WHERE version_id = \(versionId) AND request_id = \(requestId)", logger: logger
        ).collect()
        guard let id = try existing.first?.decode(Int64.self) else { throw DatasetStoreError.vanished("export job of request \(requestId)") }
        return (id, false)
    }

    private static let exportColumns = "id, version_id, format, status, rows_written, total_rows, bytes, file_name, error, created_at, finished_at"

    private func exportJobs(_ rows: PostgresRowSequence) async throws -> [DatasetExportJob] {
        var jobs: [DatasetExportJob] = []
        for try await row in rows.decode((Int64, String, String, String, Int64, Int64?, Int64?, String?, String?, Date, Date?).self) {
            jobs.append(DatasetExportJob(
                jobId: row.0, versionId: row.1, format: DatasetExportFormat(rawValue: row.2) ?? .csv, status: DatasetExportStatus(rawValue: row.3) ?? .failed,
                rowsWritten: Int(row.4), totalRows: row.5.map(Int.init), bytes: row.6, fileName: row.7, error: row.8,
                createdAt: row.9.formatted(.iso8601), finishedAt: row.10?.formatted(.iso8601)))
        }
        return jobs
    }

    func exportJob(id: Int64) async throws -> DatasetExportJob? {
        try await exportJobs(try await client.query(
            "SELECT \(unescaped: Self.exportColumns) FROM \(unescaped: schema).export_jobs WHERE id = \(id)", logger: logger)).first
    }

    func exportJobs(versionId: String) async throws -> [DatasetExportJob] {
        try await exportJobs(try await client.query(
            "SELECT \(unescaped: Self.exportColumns) FROM \(unescaped: schema).export_jobs WHERE version_id = \(versionId) ORDER BY id DESC", logger: logger))
    }

    /// Marks the job running with its total; false when it was forgotten.
    func startExport(id: Int64, totalRows: Int) async throws -> Bool {
        try await client.query(
            """
            UPDATE \(unescaped: schema).export_jobs SET status = 'running', started_at = now(), rows_written = 0, total_rows = \(Int64(totalRows)), error = NULL
            WHERE id = \(id) RETURNING 1
            """, logger: logger
        ).collect().count == 1
    }

    /// Records the rows written so far; false when the job was forgotten meanwhile.
    func exportProgress(id: Int64, rows: Int) async throws -> Bool {
        try await client.query(
            "UPDATE \(unescaped: schema).export_jobs SET rows_written = \(Int64(rows)) WHERE id = \(id) RETURNING 1", logger: logger
        ).collect().count == 1
    }

    func completeExport(id: Int64, rows: Int, bytes: Int64, fileName: String) async throws -> Bool {
        try await client.query(
            """
            UPDATE \(unescaped: schema).export_jobs SET status = 'completed', rows_written = \(Int64(rows)), bytes = \(bytes), file_name = \(fileName),
                finished_at = now() WHERE id = \(id) RETURNING 1
            """, logger: logger
        ).collect().count == 1
    }

    func failExport(id: Int64, error: String) async throws {
        try await client.query(
            "UPDATE \(unescaped: schema).export_jobs SET status = 'failed', error = \(error), finished_at = now() WHERE id = \(id)", logger: logger)
    }

    // MARK: Forget

    /// Deletes the version's report and export jobs; the ids and formats of the deleted jobs (their files go next).
    func forget(versionId: String) async throws -> (reports: Int, exports: [(Int64, DatasetExportFormat)]) {
        try await client.withTransaction(logger: logger) { connection in
            let reports = try await connection.query(
                "DELETE FROM \(unescaped: schema).quality_reports WHERE version_id = \(versionId) RETURNING 1", logger: logger
            ).collect().count
            var exports: [(Int64, DatasetExportFormat)] = []
            let rows = try await connection.query(
                "DELETE FROM \(unescaped: schema).export_jobs WHERE version_id = \(versionId) RETURNING id, format", logger: logger)
            for try await (id, format) in rows.decode((Int64, String).self) {
                exports.append((id, DatasetExportFormat(rawValue: format) ?? .csv))
            }
            return (reports, exports)
        }
    }
}

enum DatasetStoreError: Error, CustomStringConvertible {
    case vanished(String)

    var description: String {
        switch self {
        case .vanished(let what): "the \(what) vanished while it was being read"
        }
    }
}
