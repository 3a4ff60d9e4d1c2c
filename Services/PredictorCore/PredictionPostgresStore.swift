import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The predictor's schema: one row per pipeline (its phase and report number), the current
/// prediction of each build (pending, failed, or the latest completed one), and the history of
/// completed predictions, one row per (build, model version), never rewritten.
public struct PredictionPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public static let migrations: [Migration] = [
        Migration(version: 100, name: "predictions", statements: [
            """
            CREATE TABLE {schema}.pipelines (
                pipeline_id text PRIMARY KEY,
                phase text NOT NULL DEFAULT 'predicting',
                message text,
                sequence integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE {schema}.predictions (
                pipeline_id text NOT NULL REFERENCES {schema}.pipelines (pipeline_id) ON DELETE CASCADE,
                run_id bigint NOT NULL,
                status text NOT NULL,
                pending_reason text,
                error text,
                risk_level text,
                score double precision,
                uncertainty double precision,
                model_name text,
                model_version integer,
                served_by text,
                contributions jsonb,
                predicted_at timestamptz,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline_id, run_id)
            )
            """,
            "CREATE INDEX predictions_level ON {schema}.predictions (pipeline_id, risk_level, run_id)",
            """
            CREATE TABLE {schema}.prediction_history (
                pipeline_id text NOT NULL REFERENCES {schema}.pipelines (pipeline_id) ON DELETE CASCADE,
                run_id bigint NOT NULL,
                model_name text NOT NULL,
                model_version integer NOT NULL,
                risk_level text NOT NULL,
                score double precision NOT NULL,
                uncertainty double precision,
                served_by text NOT NULL,
                contributions jsonb NOT NULL,
                predicted_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline_id, run_id, model_name, model_version)
            )
            """,
        ])
    ]

    /// A completed prediction, ready to store.
    struct Completed: Encodable, Sendable {
        var runId: Int64
        var riskLevel: String
        var score: Double
        var uncertainty: Double?
        var modelName: String
        var modelVersion: Int
        var servedBy: String
        /// JSON array of the top contributions.
        var contributions: String
    }

    /// Records a pipeline (nothing when it is known).
    func upsertPipeline(_ pipelineId: String, on connection: PostgresConnection) async throws {
        try await connection.query(
            "INSERT INTO \(unescaped: schema).pipelines (pipeline_id) VALUES (\(pipelineId)) ON CONFLICT (pipeline_id) DO NOTHING", logger: logger)
    }

    func pipelineExists(_ pipelineId: String) async throws -> Bool {
        try await !client.query(
            "SELECT 1 FROM \(unescaped: schema).pipelines WHERE pipeline_id = \(pipelineId)", logger: logger
        ).collect().isEmpty
    }

    /// The pipelines with builds waiting for a model.
    func pipelinesWithPending() async throws -> [String] {
        try await client.query(
            "SELECT DISTINCT pipeline_id FROM \(unescaped: schema).predictions WHERE status IN ('pending', 'in_progress') ORDER BY pipeline_id",
            logger: logger
        ).collect().map { try $0.decode(String.self) }
    }

    /// Each build's current status.
    func statuses(pipelineId: String) async throws -> [Int64: PredictionStatus] {
        var statuses: [Int64: PredictionStatus] = [:]
        let rows = try await client.query(
            "SELECT run_id, status FROM \(unescaped: schema).predictions WHERE pipeline_id = \(pipelineId)", logger: logger)
        for try await (runId, status) in rows.decode((Int64, String).self) {
            statuses[runId] = PredictionStatus(rawValue: status) ?? .failed
        }
        return statuses
    }

    /// Marks builds as waiting (`reason`) or failed (`error`); a completed prediction stays current
    /// (a failed re-prediction does not hide the one that stands).
    func mark(_ runIds: [Int64], _ status: PredictionStatus, reason: String? = nil, error: String? = nil, pipelineId: String, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).predictions AS p (pipeline_id, run_id, status, pending_reason, error)
            SELECT \(pipelineId), run_id, \(status.rawValue), \(reason), \(error) FROM unnest(\(runIds)::int8[]) AS run_id
            ON CONFLICT (pipeline_id, run_id) DO UPDATE SET status = EXCLUDED.status, pending_reason = EXCLUDED.pending_reason,
                error = EXCLUDED.error, updated_at = now()
            WHERE p.status <> 'completed'
            """, logger: logger)
    }

    /// Stores completed predictions as the builds' current ones and adds them to the history (a
    /// version that already predicted a build keeps its first row), in one statement each.
    func storeCompleted(_ predictions: [Completed], pipelineId: String, on connection: PostgresConnection) async throws {
        guard !predictions.isEmpty else { return }
        let rows = String(decoding: try JSONEncoder().encode(predictions), as: UTF8.self)
        let columns = """
            "runId" int8, "riskLevel" text, score float8, uncertainty float8, "modelName" text, "modelVersion" int4,
            "servedBy" text, contributions text
            """
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).predictions
                (pipeline_id, run_id, status, risk_level, score, uncertainty, model_name, model_version, served_by, contributions, predicted_at)
            SELECT \(pipelineId), v."runId", 'completed', v."riskLevel", v.score, v.uncertainty, v."modelName", v."modelVersion",
                v."servedBy", v.contributions::jsonb, now()
            FROM jsonb_to_recordset(\(rows)::jsonb) AS v(\(unescaped: columns))
            ON CONFLICT (pipeline_id, run_id) DO UPDATE SET status = 'completed', pending_reason = NULL, error = NULL,
                risk_level = EXCLUDED.risk_level, score = EXCLUDED.score, uncertainty = EXCLUDED.uncertainty,
                model_name = EXCLUDED.model_name, model_version = EXCLUDED.model_version, served_by = EXCLUDED.served_by,
                contributions = EXCLUDED.contributions, predicted_at = now(), updated_at = now()
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).prediction_history
                (pipeline_id, run_id, model_name, model_version, risk_level, score, uncertainty, served_by, contributions)
            SELECT \(pipelineId), v."runId", v."modelName", v."modelVersion", v."riskLevel", v.score, v.uncertainty, v."servedBy",
                v.contributions::jsonb
            FROM jsonb_to_recordset(\(rows)::jsonb) AS v(\(unescaped: columns))
            ON CONFLICT (pipeline_id, run_id, model_name, model_version) DO NOTHING
            """, logger: logger)
    }

    /// Sets the pipeline's phase and takes the next report number, on `connection`.
    func nextSequence(pipelineId: String, phase: PredictionPhase, message: String?, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: schema).pipelines SET phase = \(phase.rawValue), message = \(message), sequence = sequence + 1, updated_at = now()
            WHERE pipeline_id = \(pipelineId) RETURNING sequence
            """, logger: logger
        ).collect()
        return try rows.first.map { Int(try $0.decode(Int32.self)) } ?? 0
    }

    func counts(pipelineId: String) async throws -> PredictionCounts {
        try await client.withConnection { connection in try await counts(pipelineId: pipelineId, on: connection) }
    }

    /// Counts on `connection` (a transaction sees its own uncommitted rows).
    func counts(pipelineId: String, on connection: PostgresConnection) async throws -> PredictionCounts {
        var counts = PredictionCounts()
        let rows = try await connection.query(
            """
            SELECT status, coalesce(risk_level, ''), count(*)::int8 FROM \(unescaped: schema).predictions
            WHERE pipeline_id = \(pipelineId) GROUP BY status, risk_level
            """, logger: logger)
        for try await (status, level, count) in rows.decode((String, String, Int64).self) {
            let count = Int(count)
            counts.total += count
            switch PredictionStatus(rawValue: status) {
            case .pending, .inProgress: counts.pending += count
            case .completed: counts.completed += count
            case .failed: counts.failed += count
            case nil: break
            }
            if status == PredictionStatus.completed.rawValue {
                switch PredictedRisk(rawValue: level) {
                case .low: counts.low += count
                case .medium: counts.medium += count
                case .high: counts.high += count
                case nil: break
                }
            }
        }
        return counts
    }

    private static let recordColumns = """
        run_id, status, pending_reason, error, risk_level, score, uncertainty, model_name, model_version, served_by, contributions::text, predicted_at
        """

    private static func record(_ row: PostgresRow, withContributions: Bool) throws -> PredictionRecord {
        let cells = try row.decode((Int64, String, String?, String?, String?, Double?, Double?, String?, Int32?, String?, String?, Date?).self)
        return PredictionRecord(
            runId: cells.0, status: PredictionStatus(rawValue: cells.1) ?? .failed, pendingReason: cells.2, error: cells.3,
            riskLevel: cells.4.flatMap(PredictedRisk.init(rawValue:)), score: cells.5, uncertainty: cells.6, modelName: cells.7,
            modelVersion: cells.8.map(Int.init), servedBy: cells.9,
            contributions: withContributions ? try cells.10.map { try JSONDecoder().decode([Contribution].self, from: Data($0.utf8)) } : nil,
            predictedAt: cells.11?.formatted(.iso8601))
    }

    /// A pipeline's current predictions, newest run first; nil when the pipeline is unknown.
    func list(_ params: PredictionListParams) async throws -> PredictionPage? {
        guard try await pipelineExists(params.pipelineId) else { return nil }
        let limit = min(max(params.limit, 1), 1000)
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.recordColumns) FROM \(unescaped: schema).predictions
            WHERE pipeline_id = \(params.pipelineId) AND run_id < \(params.beforeRunId ?? Int64.max)
                AND (\(params.runIds)::int8[] IS NULL OR run_id = ANY(\(params.runIds)::int8[]))
                AND (\(params.riskLevel?.rawValue)::text IS NULL OR (status = 'completed' AND risk_level = \(params.riskLevel?.rawValue)))
            ORDER BY run_id DESC LIMIT \(limit)
            """, logger: logger)
        var records: [PredictionRecord] = []
        for try await row in rows { records.append(try Self.record(row, withContributions: false)) }
        return PredictionPage(counts: try await counts(pipelineId: params.pipelineId), predictions: records)
    }

    /// One build's current prediction (with contributions) and its history, newest first.
    func history(_ params: PredictionBuildParams) async throws -> PredictionHistory {
        var current: PredictionRecord?
        for try await row in try await client.query(
            """
            SELECT \(unescaped: Self.recordColumns) FROM \(unescaped: schema).predictions
            WHERE pipeline_id = \(params.pipelineId) AND run_id = \(params.runId)
            """, logger: logger)
        {
            current = try Self.record(row, withContributions: true)
        }
        var history: [PredictionRecord] = []
        for try await row in try await client.query(
            """
            SELECT run_id, 'completed', NULL::text, NULL::text, risk_level, score, uncertainty, model_name, model_version, served_by,
                contributions::text, predicted_at
            FROM \(unescaped: schema).prediction_history
            WHERE pipeline_id = \(params.pipelineId) AND run_id = \(params.runId)
            ORDER BY predicted_at DESC, model_version DESC
            """, logger: logger)
        {
            history.append(try Self.record(row, withContributions: true))
        }
        return PredictionHistory(current: current, history: history)
    }

    func forget(pipelineId: String) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            let deleted = try await connection.query(
                "DELETE FROM \(unescaped: schema).predictions WHERE pipeline_id = \(pipelineId) RETURNING run_id", logger: logger
            ).collect().count
            try await connection.query("DELETE FROM \(unescaped: schema).pipelines WHERE pipeline_id = \(pipelineId)", logger: logger)
            return deleted
        }
    }
}
