import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The training-orchestrator's schema: training jobs and their logs, experiments, and the model
/// registry (versions, aliases, and per name the one active version with its activation sequence).
/// Rows only: the service decides what to write when.
public struct TrainingPostgresStore: Sendable {
    let client: PostgresClient
    let schema: String
    let logger: Logger

    public init(client: PostgresClient, schema: String, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    public static let migrations: [Migration] = [
        Migration(version: 100, name: "training_jobs", statements: [
            """
            CREATE TABLE {schema}.training_jobs (
                id bigserial PRIMARY KEY,
                model_name text NOT NULL,
                kind text NOT NULL,
                status text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
                priority text NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
                parameters jsonb NOT NULL,
                data_spec jsonb NOT NULL,
                base_version integer,
                progress double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
                phase text,
                latest jsonb,
                estimated_seconds double precision NOT NULL,
                error text,
                retry_of bigint REFERENCES {schema}.training_jobs (id) ON DELETE SET NULL,
                created_by bigint NOT NULL,
                model_version integer,
                experiment_id bigint,
                created_at timestamptz NOT NULL DEFAULT now(),
                started_at timestamptz,
                finished_at timestamptz,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX training_jobs_listing ON {schema}.training_jobs (created_at DESC, id DESC)",
            "CREATE INDEX training_jobs_status ON {schema}.training_jobs (status, finished_at)",
            """
            CREATE TABLE {schema}.job_logs (
                id bigserial PRIMARY KEY,
                job_id bigint NOT NULL REFERENCES {schema}.training_jobs (id) ON DELETE CASCADE,
                level text NOT NULL CHECK (level IN ('info', 'warning', 'error')),
                message text NOT NULL,
                at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX job_logs_job ON {schema}.job_logs (job_id, id)",
            """
            CREATE TABLE {schema}.experiments (
                id bigserial PRIMARY KEY,
                job_id bigint NOT NULL,
                model_name text NOT NULL,
                kind text NOT NULL,
                parameters jsonb NOT NULL,
                metrics jsonb NOT NULL,
                history jsonb NOT NULL,
                data jsonb NOT NULL,
                model_version integer,
                training_seconds double precision NOT NULL,
                created_by bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE {schema}.models (
                name text PRIMARY KEY,
                active_version integer,
                activation_sequence bigint NOT NULL DEFAULT 0,
                next_version integer NOT NULL DEFAULT 1
            )
            """,
            """
            CREATE TABLE {schema}.model_versions (
                model_name text NOT NULL REFERENCES {schema}.models (name),
                version integer NOT NULL,
                kind text NOT NULL,
                metrics jsonb NOT NULL,
                parameters jsonb NOT NULL,
                training_seconds double precision NOT NULL,
                base_version integer,
                created_by bigint NOT NULL,
                artifact_path text NOT NULL,
                dag_version text,
                job_id bigint,
                experiment_id bigint,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (model_name, version)
            )
            """,
            """
            CREATE TABLE {schema}.model_aliases (
                model_name text NOT NULL,
                alias text NOT NULL,
                version integer NOT NULL,
                PRIMARY KEY (model_name, alias),
                FOREIGN KEY (model_name, version) REFERENCES {schema}.model_versions (model_name, version) ON DELETE CASCADE
            )
            """,
        ]),
        Migration(version: 101, name: "training_schedules", statements: [
            """
            CREATE TABLE {schema}.training_schedules (
                id bigserial PRIMARY KEY,
                cron text NOT NULL,
                model_name text NOT NULL,
                parameters jsonb NOT NULL,
                data_spec jsonb NOT NULL,
                priority text NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
                paused boolean NOT NULL DEFAULT false,
                next_due_at timestamptz NOT NULL,
                last_due_at timestamptz,
                last_job_id bigint,
                created_by bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "ALTER TABLE {schema}.training_jobs ADD COLUMN schedule_id bigint, ADD COLUMN scheduled_for timestamptz",
            // A second guard beside the schedule's row lock: one job per (schedule, due time).
            "CREATE UNIQUE INDEX training_jobs_schedule_due ON {schema}.training_jobs (schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL",
        ]),
        // A schedule's base (a version number or an alias, resolved when it fires) and its last due time that queued no job.
        Migration(version: 102, name: "training_schedule_base", statements: [
            "ALTER TABLE {schema}.training_schedules ADD COLUMN base text, ADD COLUMN last_skipped_at timestamptz, ADD COLUMN last_skip_reason text",
        ]),
    ]

    // MARK: Jobs

    /// A timestamp column as ISO 8601 text in UTC.
    static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }

    private var jobColumns: String {
        """
        id, model_name, kind, status, priority, parameters::text, data_spec::text, base_version, progress, phase, latest::text,
        estimated_seconds, error, retry_of, created_by, model_version, experiment_id, \(Self.iso("created_at")),
        \(Self.iso("started_at")), \(Self.iso("finished_at")), schedule_id, \(Self.iso("scheduled_for"))
        """
    }

    private func jobs(_ rows: PostgresRowSequence) async throws -> [TrainingJobRecord] {
        var jobs: [TrainingJobRecord] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            func text(_ index: Int) throws -> String? { try cells[index].decode(String?.self) }
            let latest = try text(10).map { try JSONDecoder().decode(RoundLoss.self, from: Data($0.utf8)) }
            jobs.append(TrainingJobRecord(
                id: try cells[0].decode(Int64.self), modelName: try cells[1].decode(String.self), kind: try cells[2].decode(String.self),
                status: TrainingJobStatus(rawValue: try cells[3].decode(String.self)) ?? .failed,
                priority: TrainingPriority(rawValue: try cells[4].decode(String.self)) ?? .normal,
                parameters: try JSONDecoder().decode(TrainingParameters.self, from: Data(try cells[5].decode(String.self).utf8)),
                data: try JSONDecoder().decode(TrainingDataSpec.self, from: Data(try cells[6].decode(String.self).utf8)),
                baseVersion: try cells[7].decode(Int?.self), progress: try cells[8].decode(Double.self), phase: try text(9),
                estimatedSeconds: try cells[11].decode(Double.self), latest: latest, error: try text(12),
                retryOf: try cells[13].decode(Int64?.self), createdBy: try cells[14].decode(Int64.self),
                modelVersion: try cells[15].decode(Int?.self), experimentId: try cells[16].decode(Int64?.self),
                createdAt: try cells[17].decode(String.self), startedAt: try text(18), finishedAt: try text(19),
                scheduleId: try cells[20].decode(Int64?.self), scheduledFor: try text(21)))
        }
        return jobs
    }

    /// Inserts a queued job on `connection`; returns its id. `scheduled` names the schedule that
    /// queues it and the due time it is for.
    func insertJob(
        _ params: StartTrainingParams, estimatedSeconds: Double, retryOf: Int64?, scheduled: (id: Int64, dueAt: Date)? = nil,
        on connection: PostgresConnection
    ) async throws -> Int64 {
        let parameters = String(decoding: try JSONEncoder().encode(params.parameters), as: UTF8.self)
        let data = String(decoding: try JSONEncoder().encode(params.data), as: UTF8.self)
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: schema).training_jobs
                (model_name, kind, priority, parameters, data_spec, base_version, estimated_seconds, retry_of, created_by, schedule_id, scheduled_for)
            VALUES (\(params.modelName), \(params.parameters.kind), \(params.priority.rawValue), \(parameters)::jsonb, \(data)::jsonb,
                    \(params.baseVersion), \(estimatedSeconds), \(retryOf), \(params.createdBy), \(scheduled?.id), \(scheduled?.dueAt))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw StoreError.notWritten("training job")
    }

    /// The job, when `ownerId` is nil (an admin) or its creator.
    func job(_ id: Int64, ownerId: Int64? = nil) async throws -> TrainingJobRecord? {
        try await jobs(client.query(
            "SELECT \(unescaped: jobColumns) FROM \(unescaped: schema).training_jobs WHERE id = \(id) AND (\(ownerId)::bigint IS NULL OR created_by = \(ownerId))",
            logger: logger)).first
    }

    /// The job as `connection` sees it (inside the transaction that wrote it).
    func job(_ id: Int64, on connection: PostgresConnection) async throws -> TrainingJobRecord? {
        try await jobs(connection.query(
            "SELECT \(unescaped: jobColumns) FROM \(unescaped: schema).training_jobs WHERE id = \(id)", logger: logger)).first
    }

    func listJobs(_ params: ListTrainingJobsParams) async throws -> TrainingJobPage {
        let (name, kind, status, owner) = (params.modelName, params.kind, params.status?.rawValue, params.ownerId)
        var total = 0
        for try await value in try await client.query(
            """
            SELECT count(*)::bigint FROM \(unescaped: schema).training_jobs
            WHERE (\(name)::text IS NULL OR model_name = \(name)) AND (\(kind)::text IS NULL OR kind = \(kind))
              AND (\(status)::text IS NULL OR status = \(status)) AND (\(owner)::bigint IS NULL OR created_by = \(owner))
            """, logger: logger
        ).decode(Int64.self) {
            total = Int(value)
        }
        let listed = try await jobs(client.query(
            """
            SELECT \(unescaped: jobColumns) FROM \(unescaped: schema).training_jobs
            WHERE (\(name)::text IS NULL OR model_name = \(name)) AND (\(kind)::text IS NULL OR kind = \(kind))
              AND (\(status)::text IS NULL OR status = \(status)) AND (\(owner)::bigint IS NULL OR created_by = \(owner))
            ORDER BY created_at DESC, id DESC LIMIT \(params.limit) OFFSET \(params.offset)
            """, logger: logger))
        return TrainingJobPage(total: total, jobs: listed)
    }

    /// Marks a queued (or, after a lost worker, running) job running; false when it was cancelled
    /// or finished meanwhile.
    func markRunning(_ id: Int64) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).training_jobs
            SET status = 'running', started_at = now(), progress = 0, phase = 'load', latest = NULL, error = NULL, updated_at = now()
            WHERE id = \(id) AND status IN ('queued', 'running') RETURNING id
            """, logger: logger).collect()
        return !rows.isEmpty
    }

    func status(of id: Int64) async throws -> TrainingJobStatus? {
        for try await status in try await client.query(
            "SELECT status FROM \(unescaped: schema).training_jobs WHERE id = \(id)", logger: logger
        ).decode(String.self) {
            return TrainingJobStatus(rawValue: status)
        }
        return nil
    }

    /// Records progress of a running job; false when it is no longer running.
    func recordProgress(_ id: Int64, progress: Double, phase: String, latest: RoundLoss?) async throws -> Bool {
        let latestJSON = try latest.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).training_jobs
            SET progress = \(min(max(progress, 0), 1)), phase = \(phase), latest = coalesce(\(latestJSON)::jsonb, latest), updated_at = now()
            WHERE id = \(id) AND status = 'running' RETURNING id
            """, logger: logger).collect()
        return !rows.isEmpty
    }

    /// Ends a queued or running job as `status` (failed or cancelled) on `connection`; nil when it
    /// had already ended (its status then).
    func end(_ id: Int64, as status: TrainingJobStatus, error: String?, ownerId: Int64? = nil, on connection: PostgresConnection) async throws -> TrainingJobRecord? {
        try await jobs(connection.query(
            """
            UPDATE \(unescaped: schema).training_jobs
            SET status = \(status.rawValue), error = \(error), finished_at = now(), updated_at = now()
            WHERE id = \(id) AND status IN ('queued', 'running') AND (\(ownerId)::bigint IS NULL OR created_by = \(ownerId))
            RETURNING \(unescaped: jobColumns)
            """, logger: logger)).first
    }

    /// Completes a running job with the version it registered; false when it is no longer running
    /// (cancelled at the last moment), so the caller rolls the registration back.
    func complete(_ id: Int64, version: Int, experimentId: Int64, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: schema).training_jobs
            SET status = 'completed', progress = 1, phase = 'register', model_version = \(version), experiment_id = \(experimentId),
                finished_at = now(), updated_at = now()
            WHERE id = \(id) AND status = 'running' RETURNING id
            """, logger: logger).collect()
        return !rows.isEmpty
    }

    func log(_ id: Int64, _ level: String, _ message: String) async throws {
        try await client.withConnection { try await log(id, level, message, on: $0) }
    }

    func log(_ id: Int64, _ level: String, _ message: String, on connection: PostgresConnection) async throws {
        try await connection.query(
            "INSERT INTO \(unescaped: schema).job_logs (job_id, level, message) VALUES (\(id), \(level), \(message))", logger: logger)
    }

    /// A job's lines, oldest first; the last `tail` only when given.
    func logs(_ id: Int64, tail: Int?) async throws -> [TrainingLogLine] {
        let rows = try await client.query(
            """
            SELECT level, message, \(unescaped: Self.iso("at")) FROM (
                SELECT * FROM \(unescaped: schema).job_logs WHERE job_id = \(id) ORDER BY id DESC LIMIT \(tail ?? Int(Int32.max))
            ) AS last ORDER BY id
            """, logger: logger)
        var lines: [TrainingLogLine] = []
        for try await (level, message, at) in rows.decode((String, String, String).self) {
            lines.append(TrainingLogLine(level: level, message: message, at: at))
        }
        return lines
    }

    func counts() async throws -> (running: Int, queued: Int) {
        let rows = try await client.query(
            """
            SELECT count(*) FILTER (WHERE status = 'running')::bigint, count(*) FILTER (WHERE status = 'queued')::bigint
            FROM \(unescaped: schema).training_jobs WHERE status IN ('running', 'queued')
            """, logger: logger)
        for try await (running, queued) in rows.decode((Int64, Int64).self) { return (Int(running), Int(queued)) }
        return (0, 0)
    }

    /// Seconds the last (up to five) completed trainings of this kind took, newest first.
    func recentDurations(kind: String) async throws -> [Double] {
        let rows = try await client.query(
            """
            SELECT extract(epoch FROM finished_at - started_at)::double precision FROM \(unescaped: schema).training_jobs
            WHERE kind = \(kind) AND status = 'completed' AND started_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 5
            """, logger: logger)
        var seconds: [Double] = []
        for try await value in rows.decode(Double.self) { seconds.append(value) }
        return seconds
    }

    /// Deletes finished jobs (their log lines go with them) and log lines older than the policy says.
    func applyRetention(_ policy: RetentionPolicy) async throws -> (jobs: Int, logLines: Int) {
        try await client.withTransaction(logger: logger) { connection in
            let jobs = try await connection.query(
                """
                DELETE FROM \(unescaped: schema).training_jobs
                WHERE (status = 'completed' AND finished_at < now() - make_interval(days => \(policy.completedDays)::int))
                   OR (status IN ('failed', 'cancelled') AND finished_at < now() - make_interval(days => \(policy.failedDays)::int))
                RETURNING id
                """, logger: logger).collect().count
            let lines = try await connection.query(
                "DELETE FROM \(unescaped: schema).job_logs WHERE at < now() - make_interval(days => \(policy.logDays)::int) RETURNING id",
                logger: logger).collect().count
            return (jobs, lines)
        }
    }

    // MARK: Experiments

    func insertExperiment(
        jobId: Int64, modelName: String, kind: String, parameters: TrainingParameters, metrics: ModelMetrics, history: [RoundLoss],
        data: TrainingDataSummary, version: Int?, trainingSeconds: Double, createdBy: Int64, on connection: PostgresConnection
    ) async throws -> Int64 {
        let encoder = JSONEncoder()
        func json(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: schema).experiments
                (job_id, model_name, kind, parameters, metrics, history, data, model_version, training_seconds, created_by)
            VALUES (\(jobId), \(modelName), \(kind), \(try json(parameters))::jsonb, \(try json(metrics))::jsonb, \(try json(history))::jsonb,
                    \(try json(data))::jsonb, \(version), \(trainingSeconds), \(createdBy))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw StoreError.notWritten("experiment")
    }

    /// Experiments by id (in any order), or the newest `limit` of a name; with their history when asked.
    func experiments(ids: [Int64]?, modelName: String?, ownerId: Int64?, limit: Int, withHistory: Bool) async throws -> [ExperimentRecord] {
        let rows = try await client.query(
            """
            SELECT id, job_id, model_name, kind, parameters::text, metrics::text, data::text,
                   CASE WHEN \(withHistory) THEN history::text END, model_version, training_seconds, created_by, \(unescaped: Self.iso("created_at"))
            FROM \(unescaped: schema).experiments
            WHERE (\(ids)::bigint[] IS NULL OR id = ANY(\(ids))) AND (\(modelName)::text IS NULL OR model_name = \(modelName))
              AND (\(ownerId)::bigint IS NULL OR created_by = \(ownerId))
            ORDER BY id DESC LIMIT \(limit)
            """, logger: logger)
        let decoder = JSONDecoder()
        var experiments: [ExperimentRecord] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            experiments.append(ExperimentRecord(
                id: try cells[0].decode(Int64.self), jobId: try cells[1].decode(Int64.self), modelName: try cells[2].decode(String.self),
                kind: try cells[3].decode(String.self),
                parameters: try decoder.decode(TrainingParameters.self, from: Data(try cells[4].decode(String.self).utf8)),
                metrics: try decoder.decode(ModelMetrics.self, from: Data(try cells[5].decode(String.self).utf8)),
                data: try decoder.decode(TrainingDataSummary.self, from: Data(try cells[6].decode(String.self).utf8)),
                history: try cells[7].decode(String?.self).map { try decoder.decode([RoundLoss].self, from: Data($0.utf8)) },
                modelVersion: try cells[8].decode(Int?.self), trainingSeconds: try cells[9].decode(Double.self),
                createdBy: try cells[10].decode(Int64.self), createdAt: try cells[11].decode(String.self)))
        }
        return experiments
    }

    // MARK: Registry

    /// The name's row, created when missing, locked for this transaction: every change of a name's
    /// versions or activation goes through this lock, so they happen one after the other.
    func lockModel(_ name: String, on connection: PostgresConnection) async throws -> (active: Int?, sequence: Int64, nextVersion: Int) {
        try await connection.query(
            "INSERT INTO \(unescaped: schema).models (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING", logger: logger)
        let rows = try await connection.query(
            "SELECT active_version, activation_sequence, next_version FROM \(unescaped: schema).models WHERE name = \(name) FOR UPDATE",
            logger: logger)
        for try await (active, sequence, next) in rows.decode((Int?, Int64, Int).self) { return (active, sequence, next) }
        throw StoreError.notWritten("model \(name)")
    }

    /// The name's row without locking; nil when the name was never registered.
    func model(_ name: String) async throws -> (active: Int?, sequence: Int64)? {
        let rows = try await client.query(
            "SELECT active_version, activation_sequence FROM \(unescaped: schema).models WHERE name = \(name)", logger: logger)
        for try await (active, sequence) in rows.decode((Int?, Int64).self) { return (active, sequence) }
        return nil
    }

    func setActive(_ name: String, version: Int?, sequence: Int64, on connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE \(unescaped: schema).models SET active_version = \(version), activation_sequence = \(sequence) WHERE name = \(name)",
            logger: logger)
    }

    func insertVersion(_ record: ModelVersionRecord, on connection: PostgresConnection) async throws {
        let encoder = JSONEncoder()
        let metrics = String(decoding: try encoder.encode(record.metrics), as: UTF8.self)
        let parameters = String(decoding: try encoder.encode(record.parameters), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).model_versions
                (model_name, version, kind, metrics, parameters, training_seconds, base_version, created_by, artifact_path, dag_version, job_id, experiment_id)
            VALUES (\(record.modelName), \(record.version), \(record.kind), \(metrics)::jsonb, \(parameters)::jsonb, \(record.trainingSeconds),
                    \(record.baseVersion), \(record.createdBy), \(record.artifactPath), \(record.dagVersion), \(record.jobId), \(record.experimentId))
            """, logger: logger)
        try await connection.query(
            "UPDATE \(unescaped: schema).models SET next_version = \(record.version + 1) WHERE name = \(record.modelName)", logger: logger)
    }

    /// The version a search's best trial became.
    /// A search's kept trial registered as `version`, with its final metrics (the sequence model
    /// trained for it after the search) and training time.
    func setModelVersion(
        of experimentId: Int64, version: Int, metrics: ModelMetrics, trainingSeconds: Double, on connection: PostgresConnection
    ) async throws {
        let metricsJSON = String(decoding: try JSONEncoder().encode(metrics), as: UTF8.self)
        try await connection.query(
            """
            UPDATE \(unescaped: schema).experiments SET model_version = \(version), metrics = \(metricsJSON)::jsonb, training_seconds = \(trainingSeconds)
            WHERE id = \(experimentId)
            """, logger: logger)
    }

    func setExperimentVersion(_ experimentId: Int64, modelName: String, version: Int, on connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE \(unescaped: schema).model_versions SET experiment_id = \(experimentId) WHERE model_name = \(modelName) AND version = \(version)",
            logger: logger)
    }

    /// Versions of one name (or all), newest first; `version` picks one.
    func versions(modelName: String?, version: Int? = nil, alias: String? = nil) async throws -> [ModelVersionRecord] {
        let rows = try await client.query(
            """
            SELECT v.model_name, v.version, v.kind, m.active_version IS NOT DISTINCT FROM v.version,
                   coalesce((SELECT array_agg(a.alias ORDER BY a.alias) FROM \(unescaped: schema).model_aliases a
                             WHERE a.model_name = v.model_name AND a.version = v.version), '{}'),
                   v.metrics::text, v.parameters::text, v.training_seconds, v.base_version, v.created_by, v.artifact_path, v.dag_version,
                   v.job_id, v.experiment_id, \(unescaped: Self.iso("v.created_at"))
            FROM \(unescaped: schema).model_versions v JOIN \(unescaped: schema).models m ON m.name = v.model_name
            WHERE (\(modelName)::text IS NULL OR v.model_name = \(modelName)) AND (\(version)::integer IS NULL OR v.version = \(version))
              AND (\(alias)::text IS NULL OR v.version = (SELECT a.version FROM \(unescaped: schema).model_aliases a
                                                          WHERE a.model_name = v.model_name AND a.alias = \(alias)))
            ORDER BY v.model_name, v.version DESC
            """, logger: logger)
        let decoder = JSONDecoder()
        var versions: [ModelVersionRecord] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            versions.append(ModelVersionRecord(
                modelName: try cells[0].decode(String.self), version: try cells[1].decode(Int.self), kind: try cells[2].decode(String.self),
                active: try cells[3].decode(Bool.self), aliases: try cells[4].decode([String].self),
                metrics: try decoder.decode(ModelMetrics.self, from: Data(try cells[5].decode(String.self).utf8)),
                parameters: try decoder.decode(TrainingParameters.self, from: Data(try cells[6].decode(String.self).utf8)),
                trainingSeconds: try cells[7].decode(Double.self), baseVersion: try cells[8].decode(Int?.self),
                createdBy: try cells[9].decode(Int64.self), artifactPath: try cells[10].decode(String.self),
                dagVersion: try cells[11].decode(String?.self), jobId: try cells[12].decode(Int64?.self),
                experimentId: try cells[13].decode(Int64?.self), createdAt: try cells[14].decode(String.self)))
        }
        return versions
    }

    /// The version's reference for the predictor, read on `connection` (inside the activation).
    func versionRef(_ name: String, _ version: Int, on connection: PostgresConnection) async throws -> ModelVersionRef? {
        let rows = try await connection.query(
            """
            SELECT kind, artifact_path, dag_version FROM \(unescaped: schema).model_versions
            WHERE model_name = \(name) AND version = \(version)
            """, logger: logger)
        for try await (kind, path, dag) in rows.decode((String, String, String?).self) {
            return ModelVersionRef(modelName: name, version: version, kind: kind, artifactPath: path, dagVersion: dag)
        }
        return nil
    }

    /// The version an alias points at, read on `connection`; nil when the name has no such alias.
    func aliasVersion(_ name: String, _ alias: String, on connection: PostgresConnection) async throws -> Int? {
        let rows = try await connection.query(
            "SELECT version FROM \(unescaped: schema).model_aliases WHERE model_name = \(name) AND alias = \(alias)", logger: logger)
        for try await version in rows.decode(Int.self) { return version }
        return nil
    }

    func versionRef(_ name: String, _ version: Int) async throws -> ModelVersionRef? {
        try await client.withConnection { try await versionRef(name, version, on: $0) }
    }

    /// Deletes a version (its aliases go with it); false when there was none.
    func deleteVersion(_ name: String, _ version: Int, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            "DELETE FROM \(unescaped: schema).model_versions WHERE model_name = \(name) AND version = \(version) RETURNING version",
            logger: logger).collect()
        return !rows.isEmpty
    }

    func setAlias(_ name: String, _ alias: String, version: Int, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO \(unescaped: schema).model_aliases (model_name, alias, version) VALUES (\(name), \(alias), \(version))
            ON CONFLICT (model_name, alias) DO UPDATE SET version = excluded.version
            """, logger: logger)
    }

    func removeAlias(_ name: String, _ alias: String) async throws -> Bool {
        let rows = try await client.query(
            "DELETE FROM \(unescaped: schema).model_aliases WHERE model_name = \(name) AND alias = \(alias) RETURNING alias",
            logger: logger).collect()
        return !rows.isEmpty
    }
}

/// A write the store expected to make did not happen.
enum StoreError: Error, CustomStringConvertible {
    case notWritten(String)

    var description: String {
        switch self {
        case .notWritten(let what): "the \(what) row was not written"
        }
    }
}
