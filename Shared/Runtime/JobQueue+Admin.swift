import Foundation
import Logging
import PostgresNIO

/// What the admin endpoints do with a queue: cancel, retry, count and list jobs.
extension JobQueue {
    /// Cancels a queued job at once, or asks the worker running it to stop. Returns the state it
    /// was in, nil when no such job is queued or running.
    public func cancel(job id: Int64) async throws -> JobState? {
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).jobs AS j
            SET state = CASE WHEN j.state = 'queued' THEN 'cancelled' ELSE j.state END,
                finished_at = CASE WHEN j.state = 'queued' THEN now() ELSE j.finished_at END,
                cancel_requested = (j.state = 'running'), updated_at = now()
            FROM (SELECT id, state FROM \(unescaped: schema).jobs WHERE id = \(id) FOR UPDATE) AS old
            WHERE j.id = old.id AND old.state IN ('queued', 'running')
            RETURNING old.state
            """, logger: logger
        ).collect()
        return try rows.first.flatMap { JobState(rawValue: try $0.decode(String.self)) }
    }

    /// Puts a dead or cancelled job back in the queue with a fresh set of attempts.
    public func retry(job id: Int64) async throws -> Bool {
        try await client.withConnection { connection in
            let rows = try await connection.query(
                """
                UPDATE \(unescaped: schema).jobs
                SET state = 'queued', attempts = 0, run_at = now(), finished_at = NULL, cancel_requested = false,
                    updated_at = now()
                WHERE id = \(id) AND state IN ('dead', 'cancelled')
                RETURNING id
                """, logger: logger
            ).collect()
            if !rows.isEmpty {
                try await connection.query("SELECT pg_notify(\(channel), 'retried')", logger: logger)
            }
            return !rows.isEmpty
        }
    }

    /// Job counts by kind and state.
    public func counts() async throws -> [String: [String: Int]] {
        var counts: [String: [String: Int]] = [:]
        let rows = try await client.query(
            "SELECT kind, state, count(*)::int8 FROM \(unescaped: schema).jobs GROUP BY kind, state", logger: logger)
        for try await (kind, state, count) in rows.decode((String, String, Int64).self) {
            counts[kind, default: [:]][state] = Int(count)
        }
        return counts
    }

    /// Job counts by state over all kinds.
    public func countsByState() async throws -> [String: Int] {
        var totals = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0.rawValue, 0) })
        for (_, states) in try await counts() {
            for (state, count) in states { totals[state, default: 0] += count }
        }
        return totals
    }

    /// Jobs in a state, newest first.
    public func list(state: JobState, limit: Int = 100) async throws -> [JobRecord] {
        try await records(client.query(
            """
            SELECT \(unescaped: Self.recordColumns) FROM \(unescaped: schema).jobs WHERE state = \(state.rawValue)
            ORDER BY coalesce(finished_at, updated_at) DESC, id DESC LIMIT \(limit)
            """, logger: logger))
    }

    /// One job by id.
    public func job(_ id: Int64) async throws -> JobRecord? {
        try await records(client.query(
            "SELECT \(unescaped: Self.recordColumns) FROM \(unescaped: schema).jobs WHERE id = \(id)", logger: logger
        )).first
    }

    private static let recordColumns = """
        id, kind, state, priority, attempts, max_attempts, run_at, last_error, idempotency_key, payload::text, created_at, finished_at
        """

    private func records(_ rows: PostgresRowSequence) async throws -> [JobRecord] {
        var records: [JobRecord] = []
        for try await row in rows.decode(
            (Int64, String, String, Int, Int, Int, Date, String?, String?, String, Date, Date?).self
        ) {
            records.append(JobRecord(
                id: row.0, kind: row.1, state: JobState(rawValue: row.2) ?? .queued, priority: row.3, attempts: row.4,
                maxAttempts: row.5, runAt: row.6, lastError: row.7, idempotencyKey: row.8, payload: row.9,
                createdAt: row.10, finishedAt: row.11))
        }
        return records
    }
}
