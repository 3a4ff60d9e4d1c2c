import BuildRiskContracts
import Foundation
import PostgresNIO

/// Training schedules' rows: the configuration, the next due time, the last job queued.
extension TrainingPostgresStore {
    /// A schedule row with its next due time as a date (the record carries it as text).
    struct ScheduleRow: Sendable {
        var record: TrainingScheduleRecord
        var nextDueAt: Date
    }

    private var scheduleColumns: String {
        """
        id, cron, model_name, parameters::text, data_spec::text, priority, paused, \(Self.iso("next_due_at")), \(Self.iso("last_due_at")),
        last_job_id, created_by, \(Self.iso("created_at")), extract(epoch FROM next_due_at)::double precision, base,
        \(Self.iso("last_skipped_at")), last_skip_reason
        """
    }

    private func schedules(_ rows: PostgresRowSequence) async throws -> [ScheduleRow] {
        let decoder = JSONDecoder()
        var schedules: [ScheduleRow] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            let record = TrainingScheduleRecord(
                id: try cells[0].decode(Int64.self), cron: try cells[1].decode(String.self), modelName: try cells[2].decode(String.self),
                parameters: try decoder.decode(TrainingParameters.self, from: Data(try cells[3].decode(String.self).utf8)),
                data: try decoder.decode(TrainingDataSpec.self, from: Data(try cells[4].decode(String.self).utf8)),
                priority: TrainingPriority(rawValue: try cells[5].decode(String.self)) ?? .normal, base: try cells[13].decode(String?.self),
                paused: try cells[6].decode(Bool.self), nextDueAt: try cells[7].decode(String.self), lastDueAt: try cells[8].decode(String?.self),
                lastJobId: try cells[9].decode(Int64?.self), lastSkippedAt: try cells[14].decode(String?.self),
                lastSkipReason: try cells[15].decode(String?.self), createdBy: try cells[10].decode(Int64.self), createdAt: try cells[11].decode(String.self))
            schedules.append(ScheduleRow(record: record, nextDueAt: Date(timeIntervalSince1970: try cells[12].decode(Double.self))))
        }
        return schedules
    }

    /// Inserts a schedule; `base` is the base as stored (a version number or an alias, without `@`).
    func insertSchedule(
        _ params: CreateTrainingScheduleParams, cron: String, base: String?, nextDueAt: Date, on connection: PostgresConnection
    ) async throws -> Int64 {
        let parameters = String(decoding: try JSONEncoder().encode(params.parameters), as: UTF8.self)
        let data = String(decoding: try JSONEncoder().encode(params.data), as: UTF8.self)
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: schema).training_schedules (cron, model_name, parameters, data_spec, priority, base, next_due_at, created_by)
            VALUES (\(cron), \(params.modelName), \(parameters)::jsonb, \(data)::jsonb, \(params.priority.rawValue), \(base), \(nextDueAt),
                    \(params.createdBy))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw StoreError.notWritten("training schedule")
    }

    /// The schedule as `connection` sees it; locked for the transaction when `lock` is set, so
    /// firings, pauses and deletions of one schedule happen one after the other.
    func schedule(_ id: Int64, ownerId: Int64? = nil, lock: Bool = false, on connection: PostgresConnection) async throws -> ScheduleRow? {
        try await schedules(connection.query(
            """
            SELECT \(unescaped: scheduleColumns) FROM \(unescaped: schema).training_schedules
            WHERE id = \(id) AND (\(ownerId)::bigint IS NULL OR created_by = \(ownerId)) \(unescaped: lock ? "FOR UPDATE" : "")
            """, logger: logger)).first
    }

    /// Schedules of one name (or all), of one owner (or all), newest first.
    func schedules(modelName: String?, ownerId: Int64?) async throws -> [TrainingScheduleRecord] {
        try await schedules(client.query(
            """
            SELECT \(unescaped: scheduleColumns) FROM \(unescaped: schema).training_schedules
            WHERE (\(modelName)::text IS NULL OR model_name = \(modelName)) AND (\(ownerId)::bigint IS NULL OR created_by = \(ownerId))
            ORDER BY id DESC
            """, logger: logger)).map(\.record)
    }

    /// Every schedule that is not paused, with its next due time.
    func activeSchedules() async throws -> [ScheduleRow] {
        try await schedules(client.query(
            "SELECT \(unescaped: scheduleColumns) FROM \(unescaped: schema).training_schedules WHERE NOT paused ORDER BY id", logger: logger))
    }

    /// Records a firing: the due time it served, the job it queued (nil when it queued none, with
    /// the reason in `skipReason`), the next due time.
    func advanceSchedule(
        _ id: Int64, servedDueAt: Date, jobId: Int64?, skipReason: String? = nil, nextDueAt: Date, on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            """
            UPDATE \(unescaped: schema).training_schedules
            SET next_due_at = \(nextDueAt), last_due_at = CASE WHEN \(jobId)::bigint IS NULL THEN last_due_at ELSE \(servedDueAt) END,
                last_job_id = coalesce(\(jobId)::bigint, last_job_id),
                last_skipped_at = CASE WHEN \(jobId)::bigint IS NULL THEN \(servedDueAt) ELSE last_skipped_at END,
                last_skip_reason = CASE WHEN \(jobId)::bigint IS NULL THEN \(skipReason ?? "not served") ELSE last_skip_reason END
            WHERE id = \(id)
            """, logger: logger)
    }

    func setSchedulePaused(_ id: Int64, paused: Bool, nextDueAt: Date, on connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE \(unescaped: schema).training_schedules SET paused = \(paused), next_due_at = \(nextDueAt) WHERE id = \(id)", logger: logger)
    }

    /// Deletes a schedule; false when there was none (of that owner).
    func deleteSchedule(_ id: Int64, ownerId: Int64?) async throws -> Bool {
        let rows = try await client.query(
            """
            DELETE FROM \(unescaped: schema).training_schedules
            WHERE id = \(id) AND (\(ownerId)::bigint IS NULL OR created_by = \(ownerId)) RETURNING id
            """, logger: logger).collect()
        return !rows.isEmpty
    }
}
