import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The feature-extractor's schema: one row per pipeline (what to extract, the checkpoint), one
/// FeatureVector per (pipeline, build, DAG version), and an audit of every extraction.
public struct FeatureVectorPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public static let migrations: [Migration] = [
        Migration(version: 100, name: "feature_vectors", statements: [
            """
            CREATE TABLE {schema}.pipelines (
                pipeline_id text PRIMARY KEY,
                github_id bigint NOT NULL,
                full_name text NOT NULL,
                selection jsonb NOT NULL,
                dag_version text NOT NULL,
                status text NOT NULL DEFAULT 'processing',
                message text,
                sequence integer NOT NULL DEFAULT 0,
                checkpoint jsonb,
                checkpoint_created_at timestamptz,
                checkpoint_run_id bigint,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE {schema}.feature_vectors (
                pipeline_id text NOT NULL REFERENCES {schema}.pipelines (pipeline_id) ON DELETE CASCADE,
                run_id bigint NOT NULL,
                dag_version text NOT NULL,
                status text NOT NULL,
                features jsonb NOT NULL,
                scan_metrics jsonb NOT NULL DEFAULT '{}',
                missing_resources text[] NOT NULL DEFAULT '{}',
                skipped_features text[] NOT NULL DEFAULT '{}',
                error text,
                tr_prev_build bigint,
                feature_count integer NOT NULL,
                run_created_at timestamptz NOT NULL,
                extracted_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline_id, run_id, dag_version)
            )
            """,
            "CREATE INDEX feature_vectors_order ON {schema}.feature_vectors (pipeline_id, dag_version, run_created_at, run_id)",
            """
            CREATE TABLE {schema}.extraction_audit (
                id bigserial PRIMARY KEY,
                pipeline_id text NOT NULL,
                run_id bigint NOT NULL,
                dag_version text NOT NULL,
                status text NOT NULL,
                inputs jsonb NOT NULL,
                at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX extraction_audit_run ON {schema}.extraction_audit (pipeline_id, run_id, at)",
        ]),
        // Scan metrics arrive per commit, before or after the commit's vectors: kept per (pipeline,
        // commit, tool) so a vector extracted later takes them too.
        Migration(version: 101, name: "scan_metrics_backfill", statements: [
            "ALTER TABLE {schema}.feature_vectors ADD COLUMN commit_sha text",
            "CREATE INDEX feature_vectors_commit ON {schema}.feature_vectors (pipeline_id, commit_sha)",
            """
            CREATE TABLE {schema}.commit_scan_metrics (
                pipeline_id text NOT NULL,
                commit_sha text NOT NULL,
                tool text NOT NULL,
                metrics jsonb NOT NULL,
                received_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline_id, commit_sha, tool)
            )
            """,
        ]),
        // GitHub's answers with their ETags, so a repeated request is conditional and an unchanged
        // resource answers 304 (which costs no rate limit) and is read from here.
        Migration(version: 102, name: "github_response_cache", statements: [
            """
            CREATE TABLE {schema}.github_responses (
                url text PRIMARY KEY,
                etag text NOT NULL,
                body text NOT NULL,
                next_url text,
                fetched_at timestamptz NOT NULL DEFAULT now()
            )
            """,
        ]),
        // A build's branch history (the sequence model's input) read by an index scan: without
        // it every scoring by run id parsed the features of every vector of the pipeline.
        Migration(version: 103, name: "branch_history_index", statements: [
            "CREATE INDEX feature_vectors_branch_order ON {schema}.feature_vectors (pipeline_id, dag_version, \(branchExpression), \(startedAtExpression), run_id)",
        ]),
    ]

    /// The branch and start time of a vector as `feature_vectors_branch_order` indexes them; the
    /// branch-history queries must use these very expressions for the index to serve them.
    static let branchExpression = "(coalesce(features->>'\(BuildOrderFeatures.branch)', ''))"
    static let startedAtExpression = "(coalesce(features->>'\(BuildOrderFeatures.startedAt)', '') COLLATE \"C\")"

    /// A GitHub answer kept with its ETag: the body and the `Link` header's next page.
    struct CachedResponse: Sendable, Equatable {
        var etag: String
        var body: String
        var nextURL: String?
    }

    func cachedResponse(url: String) async throws -> CachedResponse? {
        let rows = try await client.query(
            "SELECT etag, body, next_url FROM \(unescaped: schema).github_responses WHERE url = \(url)", logger: logger)
        for try await (etag, body, next) in rows.decode((String, String, String?).self) {
            return CachedResponse(etag: etag, body: body, nextURL: next)
        }
        return nil
    }

    func storeResponse(url: String, _ response: CachedResponse) async throws {
        try await client.query(
            """
            INSERT INTO \(unescaped: schema).github_responses (url, etag, body, next_url) VALUES (\(url), \(response.etag), \(response.body), \(response.nextURL))
            ON CONFLICT (url) DO UPDATE SET etag = EXCLUDED.etag, body = EXCLUDED.body, next_url = EXCLUDED.next_url, fetched_at = now()
            """, logger: logger)
    }

    /// A pipeline as the processing job reads it.
    struct Pipeline: Sendable {
        var pipelineId: String
        var githubId: Int64
        var fullName: String
        var selection: [String]
        var dagVersion: String
        /// The extractor's state after the last build processed (JSON), and that build.
        var checkpoint: String?
        var checkpointCreatedAt: Date?
        var checkpointRunId: Int64?
    }

    /// One extracted build, ready to store.
    struct Extracted: Sendable {
        var runId: Int64
        var runCreatedAt: Date
        var status: ExtractionStatus
        var featuresJSON: String
        var featureCount: Int
        var missingResources: [String]
        var skippedFeatures: [String]
        var error: String?
        var trPrevBuild: Int64?
        /// The run's head commit, which scan metrics are keyed by.
        var headSha: String
        /// What the extraction read (commit, whether logs and the clone were there): the audit's record.
        var inputsJSON: String
    }

    /// Records (or updates) a pipeline to process; queues nothing itself.
    func upsertPipeline(_ request: ProcessFeaturesRequest, dagVersion: String, on connection: PostgresConnection) async throws {
        let selection = String(decoding: try JSONEncoder().encode(request.selection), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).pipelines AS p (pipeline_id, github_id, full_name, selection, dag_version, status)
            VALUES (\(request.pipelineId), \(request.githubId), \(request.fullName), \(selection)::jsonb, \(dagVersion), 'processing')
            ON CONFLICT (pipeline_id) DO UPDATE SET selection = EXCLUDED.selection, dag_version = EXCLUDED.dag_version,
                status = 'processing', message = NULL, updated_at = now(),
                -- A new DAG version or selection starts over; the vectors of the old version stay.
                checkpoint = CASE WHEN p.dag_version = EXCLUDED.dag_version AND p.selection = EXCLUDED.selection THEN p.checkpoint END,
                checkpoint_created_at = CASE WHEN p.dag_version = EXCLUDED.dag_version AND p.selection = EXCLUDED.selection THEN p.checkpoint_created_at END,
                checkpoint_run_id = CASE WHEN p.dag_version = EXCLUDED.dag_version AND p.selection = EXCLUDED.selection THEN p.checkpoint_run_id END
            """, logger: logger)
    }

    /// The pipeline; without `withCheckpoint` its checkpoint (the extractor's state, tens to
    /// hundreds of kB of JSON) is not read, as a caller that only needs its DAG version does not.
    func pipeline(_ pipelineId: String, withCheckpoint: Bool = true) async throws -> Pipeline? {
        let checkpoint = withCheckpoint ? "checkpoint::text" : "NULL::text"
        let rows = try await client.query(
            """
            SELECT pipeline_id, github_id, full_name, selection::text, dag_version, \(unescaped: checkpoint), checkpoint_created_at, checkpoint_run_id
            FROM \(unescaped: schema).pipelines WHERE pipeline_id = \(pipelineId)
            """, logger: logger)
        for try await row in rows.decode((String, Int64, String, String, String, String?, Date?, Int64?).self) {
            return Pipeline(
                pipelineId: row.0, githubId: row.1, fullName: row.2,
                selection: try JSONDecoder().decode([String].self, from: Data(row.3.utf8)), dagVersion: row.4,
                checkpoint: row.5, checkpointCreatedAt: row.6, checkpointRunId: row.7)
        }
        return nil
    }

    /// The runs of a pipeline that have a vector under `dagVersion`.
    func extractedRuns(pipelineId: String, dagVersion: String) async throws -> Set<Int64> {
        var runs = Set<Int64>()
        let rows = try await client.query(
            "SELECT run_id FROM \(unescaped: schema).feature_vectors WHERE pipeline_id = \(pipelineId) AND dag_version = \(dagVersion)",
            logger: logger)
        for try await run in rows.decode(Int64.self) { runs.insert(run) }
        return runs
    }

    /// Stores a chunk of vectors (upserted), their audit and the checkpoint after them, in one transaction.
    func store(
        _ vectors: [Extracted], pipelineId: String, dagVersion: String,
        checkpoint: String, checkpointCreatedAt: Date, checkpointRunId: Int64, on connection: PostgresConnection
    ) async throws {
        // One statement for the chunk's vectors and one for their audit (not two per build): the rows
        // travel as one JSON array.
        struct Row: Encodable {
            var runId: Int64
            var status: String
            var features: String
            var missingResources: [String]
            var skippedFeatures: [String]
            var error: String?
            var trPrevBuild: Int64?
            var featureCount: Int
            var runCreatedAt: Date
            var inputs: String
            var headSha: String
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let rows = String(decoding: try encoder.encode(vectors.map {
            Row(runId: $0.runId, status: $0.status.rawValue, features: $0.featuresJSON, missingResources: $0.missingResources,
                skippedFeatures: $0.skippedFeatures, error: $0.error, trPrevBuild: $0.trPrevBuild, featureCount: $0.featureCount,
                runCreatedAt: $0.runCreatedAt, inputs: $0.inputsJSON, headSha: $0.headSha)
        }), as: UTF8.self)
        let columns = """
            "runId" int8, status text, features text, "missingResources" text[], "skippedFeatures" text[], error text,
            "trPrevBuild" int8, "featureCount" int4, "runCreatedAt" timestamptz, inputs text, "headSha" text
            """
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).feature_vectors
                (pipeline_id, run_id, dag_version, status, features, missing_resources, skipped_features, error, tr_prev_build, feature_count,
                 run_created_at, commit_sha, scan_metrics)
            SELECT \(pipelineId), v."runId", \(dagVersion), v.status, v.features::jsonb, coalesce(v."missingResources", '{}'),
                coalesce(v."skippedFeatures", '{}'), v.error, v."trPrevBuild", v."featureCount", v."runCreatedAt", v."headSha",
                coalesce((SELECT jsonb_object_agg(m.key, m.value) FROM \(unescaped: schema).commit_scan_metrics s, jsonb_each(s.metrics) m
                          WHERE s.pipeline_id = \(pipelineId) AND s.commit_sha = v."headSha"), '{}')
            FROM jsonb_to_recordset(\(rows)::jsonb) AS v(\(unescaped: columns))
            ON CONFLICT (pipeline_id, run_id, dag_version) DO UPDATE SET commit_sha = EXCLUDED.commit_sha, scan_metrics = EXCLUDED.scan_metrics,
                status = EXCLUDED.status, features = EXCLUDED.features, missing_resources = EXCLUDED.missing_resources,
                skipped_features = EXCLUDED.skipped_features, error = EXCLUDED.error, tr_prev_build = EXCLUDED.tr_prev_build,
                feature_count = EXCLUDED.feature_count, extracted_at = now()
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).extraction_audit (pipeline_id, run_id, dag_version, status, inputs)
            SELECT \(pipelineId), v."runId", \(dagVersion), v.status, v.inputs::jsonb
            FROM jsonb_to_recordset(\(rows)::jsonb) AS v(\(unescaped: columns))
            """, logger: logger)
        try await connection.query(
            """
            UPDATE \(unescaped: schema).pipelines SET checkpoint = \(checkpoint)::jsonb, checkpoint_created_at = \(checkpointCreatedAt),
                checkpoint_run_id = \(checkpointRunId), updated_at = now()
            WHERE pipeline_id = \(pipelineId)
            """, logger: logger)
    }

    /// Deletes failed vectors so the next run extracts them again.
    func dropFailed(pipelineId: String) async throws {
        try await client.query(
            "DELETE FROM \(unescaped: schema).feature_vectors WHERE pipeline_id = \(pipelineId) AND status = 'failed'", logger: logger)
    }

    /// Sets the pipeline's status and takes the next report number, on `connection`.
    func nextSequence(pipelineId: String, status: ProcessingStatus, message: String?, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: schema).pipelines SET status = \(status.rawValue), message = \(message), sequence = sequence + 1, updated_at = now()
            WHERE pipeline_id = \(pipelineId) RETURNING sequence
            """, logger: logger
        ).collect()
        return try rows.first.map { Int(try $0.decode(Int32.self)) } ?? 0
    }

    func counts(pipelineId: String, dagVersion: String) async throws -> ExtractionCounts {
        try await client.withConnection { connection in try await counts(pipelineId: pipelineId, dagVersion: dagVersion, on: connection) }
    }

    /// Counts on `connection` (a transaction sees its own uncommitted vectors).
    func counts(pipelineId: String, dagVersion: String, on connection: PostgresConnection) async throws -> ExtractionCounts {
        var counts = ExtractionCounts()
        let rows = try await connection.query(
            """
            SELECT status, count(*)::int8 FROM \(unescaped: schema).feature_vectors
            WHERE pipeline_id = \(pipelineId) AND dag_version = \(dagVersion) GROUP BY status
            """, logger: logger)
        for try await (status, count) in rows.decode((String, Int64).self) {
            counts.total += Int(count)
            switch ExtractionStatus(rawValue: status) {
            case .completed: counts.completed += Int(count)
            case .partial: counts.partial += Int(count)
            case .failed: counts.failed += Int(count)
            default: break
            }
        }
        return counts
    }

    /// A pipeline's vectors under its current DAG version, newest run first.
    func vectors(_ params: FeatureVectorsParams) async throws -> FeatureVectorPage? {
        guard let pipeline = try await pipeline(params.pipelineId, withCheckpoint: false) else { return nil }
        if params.runId == nil, let branch = params.branch, let depth = params.branchHistory {
            // A build about to run: its branch's newest extracted builds are its history.
            let history = try await branchHistory(pipeline, branch: branch, before: nil, depth: depth)
            return FeatureVectorPage(counts: ExtractionCounts(total: 0), vectors: [], history: history)
        }
        let limit = min(max(params.limit, 1), 1000)
        let vectors = try await records(
            """
            SELECT \(unescaped: Self.recordColumns(withFeatures: params.withFeatures))
            FROM \(unescaped: schema).feature_vectors
            WHERE pipeline_id = \(params.pipelineId) AND dag_version = \(pipeline.dagVersion)
                AND run_id < \(params.beforeRunId ?? Int64.max)
                AND (\(params.status?.rawValue)::text IS NULL OR status = \(params.status?.rawValue))
                AND (\(params.runId)::int8 IS NULL OR run_id = \(params.runId))
            ORDER BY run_id DESC LIMIT \(limit)
            """, dagVersion: pipeline.dagVersion)
        // One run asked for (a build's page, a prediction): its own counts. Counting the whole
        // pipeline's vectors on every such call was most of a single prediction's database time.
        if params.runId != nil {
            var history: [FeatureVectorRecord]?
            if let depth = params.branchHistory, let vector = vectors.first, let features = vector.features {
                history = try await branchHistory(
                    pipeline, branch: features[BuildOrderFeatures.branch]?.string ?? "",
                    before: (features[BuildOrderFeatures.startedAt]?.string ?? "", vector.runId), depth: depth)
            }
            var counts = ExtractionCounts(total: vectors.count)
            for vector in vectors {
                switch vector.status {
                case .completed: counts.completed += 1
                case .partial: counts.partial += 1
                case .failed: counts.failed += 1
                case .pending, .inProgress: break
                }
            }
            return FeatureVectorPage(counts: counts, vectors: vectors, history: history)
        }
        return FeatureVectorPage(counts: try await counts(pipelineId: params.pipelineId, dagVersion: pipeline.dagVersion), vectors: vectors)
    }

    /// Up to `depth` (at most 20) extracted builds of `branch`, oldest first: the newest, or those
    /// that started before `before` (start time, run id), ordered as the predictor's pipeline job
    /// orders builds: start time as text, then run id.
    private func branchHistory(_ pipeline: Pipeline, branch: String, before: (String, Int64)?, depth: Int) async throws -> [FeatureVectorRecord] {
        guard depth > 0 else { return [] }
        let (branchKey, startedAtKey) = (Self.branchExpression, Self.startedAtExpression)
        // Without `before` the condition is constant true: PostgreSQL plans each (unnamed) statement
        // with its values, so both cases are one index range scan of `feature_vectors_branch_order`.
        let (startedAt, runId) = before ?? ("", 0)
        return try await records(
            """
            SELECT \(unescaped: Self.recordColumns(withFeatures: true))
            FROM \(unescaped: schema).feature_vectors
            WHERE pipeline_id = \(pipeline.pipelineId) AND dag_version = \(pipeline.dagVersion) AND \(unescaped: branchKey) = \(branch)
                AND (\(before == nil) OR (\(unescaped: startedAtKey), run_id) < (\(startedAt) COLLATE "C", \(runId))) AND status IN ('completed', 'partial')
            ORDER BY \(unescaped: startedAtKey) DESC, run_id DESC LIMIT \(min(depth, 20))
            """, dagVersion: pipeline.dagVersion
        ).reversed()
    }

    /// The columns `records(_:dagVersion:)` decodes, in its order.
    static func recordColumns(withFeatures: Bool) -> String {
        """
        run_id, status, \(withFeatures ? "features::text" : "NULL::text"), missing_resources, skipped_features, error,
            tr_prev_build, feature_count, extracted_at, \(withFeatures ? "scan_metrics::text" : "NULL::text"), commit_sha
        """
    }

    private func records(_ query: PostgresQuery, dagVersion: String) async throws -> [FeatureVectorRecord] {
        let rows = try await client.query(query, logger: logger)
        var vectors: [FeatureVectorRecord] = []
        let decoder = JSONDecoder()
        for try await row in rows.decode((Int64, String, String?, [String], [String], String?, Int64?, Int32, Date, String?, String?).self) {
            vectors.append(FeatureVectorRecord(
                runId: row.0, dagVersion: dagVersion, status: ExtractionStatus(rawValue: row.1) ?? .failed,
                featureCount: Int(row.7), features: try row.2.map { try decoder.decode([String: FeatureValue].self, from: Data($0.utf8)) },
                missingResources: row.3, skippedFeatures: row.4, error: row.5, trPrevBuild: row.6,
                extractedAt: row.8.formatted(.iso8601), scanMetrics: try row.9.map { try decoder.decode([String: Double].self, from: Data($0.utf8)) }, commitSha: row.10))
        }
        return vectors
    }

    /// Keeps a commit's metrics of one tool for the pipeline and merges them into its vectors of
    /// that commit; a repeated delivery writes the same values again. Returns the vectors updated.
    func backfill(_ backfill: ScanMetricsBackfill) async throws -> Int {
        let metrics = String(decoding: try JSONEncoder().encode(backfill.metrics), as: UTF8.self)
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO \(unescaped: schema).commit_scan_metrics (pipeline_id, commit_sha, tool, metrics)
                VALUES (\(backfill.pipelineId), \(backfill.commitSha), \(backfill.tool.rawValue), \(metrics)::jsonb)
                ON CONFLICT (pipeline_id, commit_sha, tool) DO UPDATE SET metrics = EXCLUDED.metrics, received_at = now()
                """, logger: logger)
            return try await connection.query(
                """
                UPDATE \(unescaped: schema).feature_vectors SET scan_metrics = scan_metrics || \(metrics)::jsonb
                WHERE pipeline_id = \(backfill.pipelineId) AND commit_sha = \(backfill.commitSha) RETURNING run_id
                """, logger: logger
            ).collect().count
        }
    }

    func forget(pipelineId: String) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            let deleted = try await connection.query(
                "DELETE FROM \(unescaped: schema).feature_vectors WHERE pipeline_id = \(pipelineId) RETURNING run_id", logger: logger
            ).collect().count
            try await connection.query("DELETE FROM \(unescaped: schema).pipelines WHERE pipeline_id = \(pipelineId)", logger: logger)
            try await connection.query("DELETE FROM \(unescaped: schema).extraction_audit WHERE pipeline_id = \(pipelineId)", logger: logger)
            try await connection.query("DELETE FROM \(unescaped: schema).commit_scan_metrics WHERE pipeline_id = \(pipelineId)", logger: logger)
            return deleted
        }
    }
}
