import Foundation
import Logging
import PostgresNIO

/// The durable job queue of one service schema (`<schema>.jobs`).
///
/// Enqueue happens on the caller's connection, so a job commits or rolls back with the business
/// write it belongs to. Workers claim with `FOR UPDATE SKIP LOCKED` and hold a lease they renew;
/// a worker that dies stops renewing and the reaper hands its jobs to another. Every enqueue and
/// release notifies `<schema>_jobs`, which wakes idle workers (no busy polling).
public struct JobQueue: Sendable {
    public let client: PostgresClient
    public let schema: String
    let logger: Logger

    public init(client: PostgresClient, schema: String, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    /// The LISTEN/NOTIFY channel of this queue.
    public var channel: String { "\(schema)_jobs" }

    /// The runtime's migration that creates the jobs table.
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "jobs", statements: [
            """
            CREATE TABLE {schema}.jobs (
                id bigserial PRIMARY KEY,
                kind text NOT NULL,
                payload jsonb NOT NULL DEFAULT '{}',
                priority integer NOT NULL DEFAULT 0,
                state text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
                attempts integer NOT NULL DEFAULT 0,
                max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
                run_at timestamptz NOT NULL DEFAULT now(),
                idempotency_key text UNIQUE,
                lease_owner text,
                lease_expires_at timestamptz,
                cancel_requested boolean NOT NULL DEFAULT false,
                last_error text,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                finished_at timestamptz
            )
            """,
            "CREATE INDEX jobs_ready ON {schema}.jobs (priority DESC, run_at, id) WHERE state = 'queued'",
            "CREATE INDEX jobs_leases ON {schema}.jobs (lease_expires_at) WHERE state = 'running'",
            "CREATE INDEX jobs_finished ON {schema}.jobs (state, finished_at DESC) WHERE state IN ('dead', 'cancelled')",
        ])
    ]

    // MARK: Enqueue

    /// Enqueues a job on `connection` (inside the caller's transaction, if any). Returns the new
    /// job's id, or nil when a job with the same idempotency key already exists.
    @discardableResult
    public func enqueue<Payload>(
        _ kind: JobKind<Payload>, _ payload: Payload, options: JobOptions = JobOptions(), on connection: PostgresConnection
    ) async throws -> Int64? {
        let json = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
        let kind = kind.name
        let runAt = options.runAt ?? Date()
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: schema).jobs (kind, payload, priority, run_at, max_attempts, idempotency_key)
            VALUES (\(kind), \(json)::jsonb, \(options.priority), \(runAt), \(options.maxAttempts), \(options.idempotencyKey))
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
            """, logger: logger
        ).collect()
        guard let id = try rows.first?.decode(Int64.self) else { return nil }
        // Delivered at commit when inside a transaction; immediately otherwise.
        try await connection.query("SELECT pg_notify(\(channel), \(kind))", logger: logger)
        return id
    }

    /// Enqueues a job in its own transaction.
    @discardableResult
    public func enqueue<Payload>(
        _ kind: JobKind<Payload>, _ payload: Payload, options: JobOptions = JobOptions()
    ) async throws -> Int64? {
        try await client.withConnection { connection in
            try await enqueue(kind, payload, options: options, on: connection)
        }
    }

    // MARK: Workers

    /// Claims up to `limit` due jobs of the given kinds for `owner`, leasing them for `lease`.
    public func claim(kinds: [String], limit: Int, owner: String, lease: Duration) async throws -> [Job] {
        let leaseSeconds = lease.inSeconds
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).jobs AS j
            SET state = 'running', attempts = j.attempts + 1, lease_owner = \(owner),
                lease_expires_at = now() + make_interval(secs => \(leaseSeconds)), updated_at = now()
            FROM (
                SELECT id FROM \(unescaped: schema).jobs
                WHERE state = 'queued' AND run_at <= now() AND kind = ANY(\(kinds))
                ORDER BY priority DESC, run_at, id
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ) AS next
            WHERE j.id = next.id
            RETURNING j.id, j.kind, j.payload::text, j.attempts, j.max_attempts, j.priority
            """, logger: logger)
        var jobs: [Job] = []
        for try await (id, kind, payload, attempts, maxAttempts, priority) in rows.decode((Int64, String, String, Int, Int, Int).self) {
            jobs.append(Job(id: id, kind: kind, payload: payload, attempt: attempts, maxAttempts: maxAttempts, priority: priority))
        }
        return jobs.sorted { ($0.priority, -$0.id) > ($1.priority, -$1.id) }
    }

    /// Extends the lease of a running job. Returns nil when `owner` no longer holds it, otherwise
    /// whether a cancel was requested.
    public func renewLease(job id: Int64, owner: String, lease: Duration) async throws -> Bool? {
        let leaseSeconds = lease.inSeconds
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).jobs
            SET lease_expires_at = now() + make_interval(secs => \(leaseSeconds)), updated_at = now()
            WHERE id = \(id) AND lease_owner = \(owner) AND state = 'running'
            RETURNING cancel_requested
            """, logger: logger
        ).collect()
        return try rows.first?.decode(Bool.self)
    }

    /// Marks a job done. Returns false when the lease had been lost (another worker owns it now).
    @discardableResult
    public func complete(job id: Int64, owner: String) async throws -> Bool {
        try await client.query(
            """
            UPDATE \(unescaped: schema).jobs
            SET state = 'succeeded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                last_error = NULL, updated_at = now()
            WHERE id = \(id) AND lease_owner = \(owner) AND state = 'running'
            RETURNING id
            """, logger: logger
        ).collect().isEmpty == false
    }

    /// Records a failed attempt: the job runs again after `retryAfter`, or is dead when it was the
    /// last attempt or the failure is permanent. Returns the new state, nil when the lease was lost.
    @discardableResult
    public func fail(job id: Int64, owner: String, error: String, retryAfter: Duration, permanent: Bool) async throws -> JobState? {
        let delay = retryAfter.inSeconds
        let rows = try await client.query(
            """
            UPDATE \(unescaped: schema).jobs
            SET state = CASE WHEN \(permanent) OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                finished_at = CASE WHEN \(permanent) OR attempts >= max_attempts THEN now() END,
                run_at = now() + make_interval(secs => \(delay)),
                last_error = \(String(error.prefix(4000))), lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = \(id) AND lease_owner = \(owner) AND state = 'running'
            RETURNING state
            """, logger: logger
        ).collect()
        return try rows.first.map { JobState(rawValue: try $0.decode(String.self)) ?? .queued }
    }

    /// Gives a running job back without counting the attempt (graceful shutdown).
    public func release(job id: Int64, owner: String) async throws {
        try await client.withConnection { connection in
            try await connection.query(
                """
                UPDATE \(unescaped: schema).jobs
                SET state = 'queued', attempts = greatest(attempts - 1, 0), run_at = now(),
                    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
                WHERE id = \(id) AND lease_owner = \(owner) AND state = 'running'
                """, logger: logger)
            try await connection.query("SELECT pg_notify(\(channel), 'released')", logger: logger)
        }
    }

    /// Marks a running job whose cancel was requested as cancelled.
    public func markCancelled(job id: Int64, owner: String) async throws {
        try await client.query(
            """
            UPDATE \(unescaped: schema).jobs
            SET state = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                last_error = 'cancelled while running', updated_at = now()
            WHERE id = \(id) AND lease_owner = \(owner) AND state = 'running'
            """, logger: logger)
    }

    /// Requeues (or, after the last attempt, kills) running jobs whose lease expired: their worker
    /// died or hung. Returns how many jobs it requeued or killed.
    @discardableResult
    public func reapExpiredLeases() async throws -> Int {
        let rows = try await client.withConnection { connection in
            let rows = try await connection.query(
                """
                UPDATE \(unescaped: schema).jobs
                SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                    finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                    last_error = 'lease expired: worker ' || coalesce(lease_owner, '?') || ' stopped renewing it',
                    lease_owner = NULL, lease_expires_at = NULL, run_at = now(), updated_at = now()
                WHERE state = 'running' AND lease_expires_at < now()
                RETURNING id
                """, logger: logger
            ).collect()
            if !rows.isEmpty {
                try await connection.query("SELECT pg_notify(\(channel), 'reaped')", logger: logger)
            }
            return rows
        }
        return rows.count
    }

    /// Seconds until the earliest queued job of these kinds is due (0 when one is due now), nil when none is queued.
    public func secondsUntilNextDue(kinds: [String]) async throws -> Double? {
        let rows = try await client.query(
            """
            SELECT extract(epoch FROM min(run_at) - now())::float8
            FROM \(unescaped: schema).jobs WHERE state = 'queued' AND kind = ANY(\(kinds))
            """, logger: logger
        ).collect()
        // NULL when nothing is queued. (It was `greatest(…, 0)`, which turns NULL into 0: every
        // idle worker then polled the database every 5 ms.)
        return try rows.first?.decode(Double?.self).map { max($0, 0) }
    }
}
