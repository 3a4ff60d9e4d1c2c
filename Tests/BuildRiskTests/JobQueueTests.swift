import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import ServiceLifecycle
import PostgresNIO
import Synchronization
import Testing

/// The durable job queue against a real PostgreSQL, with real worker processes.
@Suite(.timeLimit(.minutes(13)), .dropsTestDatabases)
struct JobQueueTests {
    static let probeSchema = "job_probe"

    struct SlowPayload: Codable, Sendable { var milliseconds: Int }
    /// The probe's kinds (Tests/Fixtures/JobProbe declares the same).
    static let slow = JobKind<SlowPayload>("probe.slow")
    static let record = JobKind<Empty>("probe.record")

    func probeEnvironment(_ database: TestDatabase, concurrency: Int, leaseSeconds: Int) -> [String: String] {
        [
            "PROBE_DATABASE_URL": database.url(forSchema: Self.probeSchema).urlString,
            "PROBE_SCHEMA": Self.probeSchema,
            "PROBE_CONCURRENCY": String(concurrency),
            "PROBE_LEASE_SECONDS": String(leaseSeconds),
        ]
    }

    /// Migrates the probe schema the way the probe does, so the test can enqueue first.
    func migrateProbeSchema(_ client: PostgresClient) async throws {
        try await Migrator(
            client: client, schema: Self.probeSchema,
            migrations: JobQueue.migrations + [
                Migration(version: 100, name: "probe_runs", statements: [
                    "CREATE TABLE {schema}.probe_runs (job_id bigint NOT NULL, owner text NOT NULL, attempt integer NOT NULL, at timestamptz NOT NULL DEFAULT now())",
                    "CREATE TABLE {schema}.probe_starts (job_id bigint NOT NULL, owner text NOT NULL, at timestamptz NOT NULL DEFAULT now())",
                ])
            ], logger: TestEnvironment.logger
        ).migrate()
    }

    func count(_ client: PostgresClient, _ query: PostgresQuery) async throws -> Int {
        Int(try await client.query(query, logger: TestEnvironment.logger).collect().first?.decode(Int64.self) ?? 0)
    }

    @Test func aThousandJobsRunExactlyOnceAcrossTwoProcessesWithFourWorkers() async throws {
        let database = try await TestDatabase.create(extraSchemas: [Self.probeSchema])
        try await withClient(database.url(forSchema: Self.probeSchema)) { client in
            try await migrateProbeSchema(client)
            let queue = JobQueue(client: client, schema: Self.probeSchema, logger: TestEnvironment.logger)
            try await client.withConnection { connection in
                for index in 0..<1000 {
                    try await queue.enqueue(Self.slow, SlowPayload(milliseconds: 10), options: JobOptions(priority: index % 3), on: connection)
                }
            }
            let environment = probeEnvironment(database, concurrency: 2, leaseSeconds: 30)
            let first = try ChildProcess(executable: "job-probe", environment: environment)
            let second = try ChildProcess(executable: "job-probe", environment: environment)
            try await waitUntil("all 1,000 jobs succeeded", timeout: .seconds(120)) {
                try await count(client, "SELECT count(*)::int8 FROM job_probe.jobs WHERE state = 'succeeded'") == 1000
            }
            first.kill(SIGTERM)
            second.kill(SIGTERM)
            await first.waitForExit()
            await second.waitForExit()
            #expect(try await count(client, "SELECT count(*)::int8 FROM job_probe.probe_runs") == 1000)
            #expect(try await count(client, "SELECT count(DISTINCT job_id)::int8 FROM job_probe.probe_runs") == 1000)
            #expect(try await count(client, "SELECT count(DISTINCT owner)::int8 FROM job_probe.probe_runs") == 2)
            #expect(try await count(client, "SELECT count(*)::int8 FROM job_probe.jobs WHERE attempts <> 1") == 0)
        }
    }

    @Test func aWorkerKilledMidJobLosesItsLeaseAndTheJobRunsAgainToCompletion() async throws {
        let database = try await TestDatabase.create(extraSchemas: [Self.probeSchema])
        try await withClient(database.url(forSchema: Self.probeSchema)) { client in
            try await migrateProbeSchema(client)
            let queue = JobQueue(client: client, schema: Self.probeSchema, logger: TestEnvironment.logger)
            let id = try #require(try await queue.enqueue(Self.slow, SlowPayload(milliseconds: 3000)))
            let environment = probeEnvironment(database, concurrency: 1, leaseSeconds: 2)

            let doomed = try ChildProcess(executable: "job-probe", environment: environment)
            try await waitUntil("the first worker started the job") {
                try await count(client, "SELECT count(*)::int8 FROM job_probe.probe_starts") == 1
            }
            doomed.kill(SIGKILL)
            await doomed.waitForExit()
            #expect(try await queue.job(id)?.state == .running)

            let survivor = try ChildProcess(executable: "job-probe", environment: environment)
            try await waitUntil("the job succeeded after its lease expired", timeout: .seconds(60)) {
                try await queue.job(id)?.state == .succeeded
            }
            survivor.kill(SIGTERM)
            await survivor.waitForExit()
            let job = try #require(try await queue.job(id))
            #expect(job.attempts == 2)
            #expect(try await count(client, "SELECT count(*)::int8 FROM job_probe.probe_starts") == 2)
            #expect(try await count(client, "SELECT count(*)::int8 FROM job_probe.probe_runs") == 1)
            #expect(try await count(client, "SELECT count(*)::int8 FROM job_probe.probe_runs WHERE owner = \("probe:\(survivor.pid)")") == 1)
        }
    }

    @Test func failuresBackOffExponentiallyAndTheLastOneMakesTheJobDead() async throws {
        let database = try await TestDatabase.create(extraSchemas: [Self.probeSchema])
        try await withClient(database.url(forSchema: Self.probeSchema)) { client in
            try await migrateProbeSchema(client)
            let queue = JobQueue(client: client, schema: Self.probeSchema, logger: TestEnvironment.logger)
            let attempts = Mutex<[ContinuousClock.Instant]>([])
            struct Flaky: Error {}
            let failing = JobKind<Empty>("test.failing")
            var handlers = JobHandlers()
            handlers.register(failing, backoff: Backoff(base: .milliseconds(400), cap: .seconds(30))) { _, _ in
                attempts.withLock { $0.append(.now) }
                throw Flaky()
            }
            let worker = JobWorker(queue: queue, handlers: handlers, concurrency: 1, lease: .seconds(10), logger: TestEnvironment.logger)
            let id = try #require(try await queue.enqueue(failing, Empty(), options: JobOptions(maxAttempts: 4)))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                try await waitUntil("the job is dead", timeout: .seconds(30)) { try await queue.job(id)?.state == .dead }
                group.cancelAll()
            }
            let times = attempts.withLock { $0 }
            #expect(times.count == 4)
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            // Equal jitter: the delay after attempt n lies in [base·2ⁿ⁻¹/2, base·2ⁿ⁻¹], so no retry
            // comes before half its delay, and the floors double. (Upper bounds or comparisons of
            // the gaps themselves are timing, which a loaded machine stretches: they belong in a benchmark.)
            #expect(gaps[0] >= .milliseconds(190))
            #expect(gaps[1] >= .milliseconds(390))
            #expect(gaps[2] >= .milliseconds(790))
            let job = try #require(try await queue.job(id))
            #expect(job.attempts == 4)
            #expect(job.lastError?.contains("Flaky") == true)
        }
    }

    @Test func aDuplicateIdempotencyKeyEnqueuesNothingAndARolledBackWriteEnqueuesNothing() async throws {
        let database = try await TestDatabase.create(extraSchemas: [Self.probeSchema])
        try await withClient(database.url(forSchema: Self.probeSchema)) { client in
            try await migrateProbeSchema(client)
            let queue = JobQueue(client: client, schema: Self.probeSchema, logger: TestEnvironment.logger)
            let first = try await queue.enqueue(Self.record, Empty(), options: JobOptions(idempotencyKey: "build-42"))
            let second = try await queue.enqueue(Self.record, Empty(), options: JobOptions(idempotencyKey: "build-42"))
            #expect(first != nil)
            #expect(second == nil)
            #expect(try await count(client, "SELECT count(*)::int8 FROM job_probe.jobs") == 1)

            // A job enqueued in a transaction that rolls back is gone with it.
            struct Abort: Error {}
            let rolledBack = await #expect(throws: PostgresTransactionError.self) {
                try await client.withTransaction(logger: TestEnvironment.logger) { connection in
                    let id = try await queue.enqueue(Self.record, Empty(), options: JobOptions(idempotencyKey: "rolled-back"), on: connection)
                    #expect(id != nil)
                    let inside = try await connection.query("SELECT count(*)::int8 FROM job_probe.jobs", logger: TestEnvironment.logger).collect().first?.decode(Int64.self)
                    #expect(inside == 2)
                    throw Abort()
                }
            }
            #expect(rolledBack?.closureError is Abort && rolledBack?.rollbackError == nil)
            #expect(try await count(client, "SELECT count(*)::int8 FROM job_probe.jobs") == 1)

            // A queued job cancels at once and never runs.
            let queued = try #require(try await queue.enqueue(Self.record, Empty(), options: JobOptions(runAt: Date().addingTimeInterval(3600))))
            #expect(try await queue.cancel(job: queued) == .queued)
            #expect(try await queue.job(queued)?.state == .cancelled)
            #expect(try await queue.cancel(job: queued) == nil)
        }
    }

    @Test func gracefulShutdownReleasesAJobItCannotFinishWithoutCountingTheAttempt() async throws {
        let database = try await TestDatabase.create(extraSchemas: [Self.probeSchema])
        try await withClient(database.url(forSchema: Self.probeSchema)) { client in
            try await migrateProbeSchema(client)
            let queue = JobQueue(client: client, schema: Self.probeSchema, logger: TestEnvironment.logger)
            let started = Mutex(false)
            let long = JobKind<Empty>("test.long")
            var handlers = JobHandlers()
            handlers.register(long) { _, _ in
                started.withLock { $0 = true }
                try await Task.sleep(for: .seconds(60))
            }
            let worker = JobWorker(
                queue: queue, handlers: handlers, concurrency: 1, lease: .seconds(30), shutdownGrace: .milliseconds(300), logger: TestEnvironment.logger)
            let id = try #require(try await queue.enqueue(long, Empty()))
            let group = ServiceGroup(configuration: .init(services: [worker], gracefulShutdownSignals: [], logger: TestEnvironment.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await waitUntil("the job is running") { started.withLock { $0 } }
                #expect(try await queue.job(id)?.state == .running)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let job = try #require(try await queue.job(id))
            #expect(job.state == .queued)
            #expect(job.attempts == 0)
        }
    }

    /// Runs `handlers` in one worker until `done` holds, then stops it.
    func withWorker(
        _ queue: JobQueue, _ handlers: JobHandlers, concurrency: Int = 1, lease: Duration = .seconds(30),
        idleRecheck: Duration = .seconds(30), _ body: (JobWorker) async throws -> Void
    ) async throws {
        let worker = JobWorker(
            queue: queue, handlers: handlers, concurrency: concurrency, lease: lease, shutdownGrace: .milliseconds(300),
            logger: TestEnvironment.logger, idleRecheck: idleRecheck)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            defer { group.cancelAll() }
            try await body(worker)
        }
    }

    /// Due jobs run highest priority first, in enqueue order within a priority; a job whose
    /// `run_at` lies ahead waits for it whatever its priority.
    @Test func jobsRunByPriorityAndNotBeforeTheirRunAt() async throws {
        let database = try await TestDatabase.create(extraSchemas: [Self.probeSchema])
        try await withClient(database.url(forSchema: Self.probeSchema)) { client in
            try await migrateProbeSchema(client)
            let queue = JobQueue(client: client, schema: Self.probeSchema, logger: TestEnvironment.logger)
            struct Tagged: Codable, Sendable { var tag: String }
            let tagged = JobKind<Tagged>("test.tagged")
            let runs = Mutex<[(tag: String, at: Date)]>([])
            var handlers = JobHandlers()
            handlers.register(tagged) { payload, _ in runs.withLock { $0.append((payload.tag, Date())) } }

            // Enqueued before any worker runs, so the first claim sees them all.
            let fixture: [(tag: String, priority: Int)] = [("low-1", 0), ("high-1", 5), ("mid-1", 2), ("low-2", 0), ("high-2", 5), ("mid-2", 2)]
            for job in fixture { try await queue.enqueue(tagged, Tagged(tag: job.tag), options: JobOptions(priority: job.priority)) }
            let runAt = Date().addingTimeInterval(3)
            try await queue.enqueue(tagged, Tagged(tag: "delayed"), options: JobOptions(priority: 9, runAt: runAt))

            try await withWorker(queue, handlers) { _ in
                try await waitUntil("every job ran", timeout: .seconds(60)) { runs.withLock { $0.count } == fixture.count + 1 }
            }
            let order = runs.withLock { $0 }
            #expect(order.map(\.tag) == ["high-1", "high-2", "mid-1", "mid-2", "low-1", "low-2", "delayed"])
            let delayed = try #require(order.last)
            #expect(delayed.at >= runAt, "the delayed job ran \(runAt.timeIntervalSince(delayed.at)) s before its run_at")
        }
    }

    /// A cancel requested while a job runs stops its handler (the task is cancelled) and leaves
    /// the job cancelled for good after that one attempt.
    @Test func cancellingARunningJobStopsItsHandler() async throws {
        let database = try await TestDatabase.create(extraSchemas: [Self.probeSchema])
        try await withClient(database.url(forSchema: Self.probeSchema)) { client in
            try await migrateProbeSchema(client)
            let queue = JobQueue(client: client, schema: Self.probeSchema, logger: TestEnvironment.logger)
            let long = JobKind<Empty>("test.long")
            let seen = Mutex((started: 0, cancelled: 0, finished: 0))
            var handlers = JobHandlers()
            handlers.register(long) { _, _ in
                seen.withLock { $0.started += 1 }
                do {
                    try await Task.sleep(for: .seconds(120))
                    seen.withLock { $0.finished += 1 }
                } catch {
                    seen.withLock { $0.cancelled += 1 }
                    throw error
                }
            }
            let id = try #require(try await queue.enqueue(long, Empty()))
            // The worker learns of a cancel when it renews the lease (every third of it).
            try await withWorker(queue, handlers, lease: .seconds(3)) { _ in
                try await waitUntil("the job is running") { seen.withLock { $0.started } == 1 }
                #expect(try await queue.cancel(job: id) == .running)
                try await waitUntil("the job is cancelled", timeout: .seconds(60)) { try await queue.job(id)?.state == .cancelled }
                try await waitUntil("the handler saw the cancellation") { seen.withLock { $0.cancelled } == 1 }
            }
            let job = try #require(try await queue.job(id))
            #expect(job.attempts == 1)
            let outcome = seen.withLock { $0 }
            #expect(outcome.started == 1 && outcome.cancelled == 1 && outcome.finished == 0, "\(outcome)")
            #expect(try await queue.cancel(job: id) == nil)
        }
    }

    /// A job enqueued on another connection wakes an idle worker through NOTIFY: with the idle
    /// re-check ten minutes away, only the notification can make the worker claim again.
    @Test func aJobEnqueuedElsewhereWakesAnIdleWorkerThroughNotify() async throws {
        let database = try await TestDatabase.create(extraSchemas: [Self.probeSchema])
        try await withClient(database.url(forSchema: Self.probeSchema)) { client in
            try await migrateProbeSchema(client)
            let queue = JobQueue(client: client, schema: Self.probeSchema, logger: TestEnvironment.logger)
            let ran = Mutex(0)
            let record = JobKind<Empty>("test.record")
            var handlers = JobHandlers()
            handlers.register(record) { _, _ in ran.withLock { $0 += 1 } }
            try await withWorker(queue, handlers, idleRecheck: .seconds(600)) { worker in
                // Idle: listening, and its claims made (one at start, one after the listener's own wake-up).
                try await waitUntil("the worker listens") { worker.counters.listening }
                try await Task.sleep(for: .milliseconds(500))
                let idle = worker.counters
                #expect(idle.notifications == 0)

                // Another client, so another connection than the worker's.
                try await withClient(database.url(forSchema: Self.probeSchema)) { other in
                    let elsewhere = JobQueue(client: other, schema: Self.probeSchema, logger: TestEnvironment.logger)
                    try await elsewhere.enqueue(record, Empty())
                }
                try await waitUntil("the job ran", timeout: .seconds(60)) { ran.withLock { $0 } == 1 }
                let woken = worker.counters
                #expect(woken.notifications >= 1)
                #expect(woken.timedWakeups == idle.timedWakeups, "no idle sleep ran out: the notification woke the worker")
                // One claim finds the job; one more after it finished finds nothing. No polling in between.
                #expect(woken.claims - idle.claims <= 3, "\(woken.claims - idle.claims) claims for one job")
            }
        }
    }

    /// An idle service leaves its database alone: its workers sleep until NOTIFY or the next due
    /// job. (An empty queue's "next due" once came back as 0 instead of none, and every idle worker
    /// polled every 5 ms: about a tenth of a core per idle service.)
    @Test func anIdleServiceDoesNotPollItsQueue() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let ingestor = try makeRuntime(.ingestor, in: cluster)
        try await withServices([ingestor]) {
            #expect(try await ingestor.environment.queue.secondsUntilNextDue(kinds: ["test.nothing"]) == nil)
            @Sendable func transactions() async throws -> Int64 {
                try await database.withAdminClient { client in
                    try await client.query(
                        "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = \(database.name)",
                        logger: TestEnvironment.logger
                    ).collect().first?.decode(Int64.self) ?? 0
                }
            }
            try await Task.sleep(for: .seconds(2))
            let before = try await transactions()
            try await Task.sleep(for: .seconds(4))
            let idle = try await transactions() - before
            #expect(idle < 300, "\(idle) transactions in 4 s while the service was idle")
        }
    }

    @Test func aDeadJobRetriedFromTheAdminEndpointRuns() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let broken = Mutex(true)
        struct StillBroken: Error {}
        let flaky = JobKind<Empty>("test.flaky")
        let custom = ServiceDefinition(service: .ingestor, jobKinds: [flaky.erased]) { _ in
            var jobs = JobHandlers()
            jobs.register(flaky, backoff: Backoff(base: .milliseconds(50), cap: .milliseconds(100))) { _, _ in
                if broken.withLock({ $0 }) { throw StillBroken() }
            }
            return ServiceAssembly(jobs: jobs)
        }
        let ingestor = try makeRuntime(.ingestor, in: cluster, definition: custom)
        try await withServices([ingestor]) {
            let queue = ingestor.environment.queue
            let id = try #require(try await queue.enqueue(flaky, Empty(), options: JobOptions(maxAttempts: 2)))
            try await waitUntil("the job is dead") { try await queue.job(id)?.state == .dead }

            let httpClient = ingestor.environment.directory.httpClient
            let base = cluster.internalURL(.ingestor)
            #expect(try await http(httpClient, .POST, "\(base)/admin/jobs/\(id)/retry").status == 401)
            #expect(try await http(httpClient, .POST, "\(base)/admin/jobs/\(id)/retry", token: "brk_not_the_admin").status == 403)

            let dead = try await http(httpClient, .GET, "\(base)/admin/jobs/dead", token: TestEnvironment.adminToken)
            #expect(dead.status == 200)
            let listed = try #require(try JSONSerialization.jsonObject(with: dead.body) as? [[String: Any]])
            #expect(listed.contains { ($0["id"] as? Int).map(Int64.init) == id && ($0["lastError"] as? String)?.contains("StillBroken") == true })
            let counts = try await http(httpClient, .GET, "\(base)/admin/jobs", token: TestEnvironment.adminToken).json()
            #expect(((counts["byKind"] as? [String: Any])?["test.flaky"] as? [String: Any])?["dead"] as? Int == 1)

            broken.withLock { $0 = false }
            #expect(try await http(httpClient, .POST, "\(base)/admin/jobs/\(id)/retry", token: TestEnvironment.adminToken).status == 202)
            try await waitUntil("the retried job succeeded") { try await queue.job(id)?.state == .succeeded }
            #expect(try await http(httpClient, .POST, "\(base)/admin/jobs/\(id)/retry", token: TestEnvironment.adminToken).status == 409)
            #expect(try await http(httpClient, .POST, "\(base)/admin/jobs/999999/retry", token: TestEnvironment.adminToken).status == 404)

            let metrics = try await http(httpClient, .GET, "\(base)/metrics")
            #expect(metrics.text.contains(#"buildrisk_jobs{kind="test.flaky",state="succeeded"} 1"#) || metrics.text.contains(#"buildrisk_jobs{kind="test.flaky",state="succeeded"} 1.0"#))
            #expect(metrics.text.contains("buildrisk_http_requests_total"))
        }
    }

    /// A job kind a service enqueues but nothing handles, a handler for a kind nobody declared, or
    /// a kind registered twice stops the service at start with the kind's name.
    @Test func jobKindsWithoutTheirHandlerStopTheServiceAtStart() throws {
        let orphan = JobKind<Empty>("test.orphan")
        let handled = JobKind<SlowPayload>("test.handled")
        var handlers = JobHandlers()
        handlers.register(handled) { _, _ in }
        #expect(throws: Never.self) { try handlers.check(declared: [handled.erased]) }
        let missing = #expect(throws: ConfigurationError.self) { try handlers.check(declared: [handled.erased, orphan.erased]) }
        #expect(missing?.description.contains("'test.orphan' is declared but has no handler") == true)
        let undeclared = #expect(throws: ConfigurationError.self) { try handlers.check(declared: []) }
        #expect(undeclared?.description.contains("'test.handled'") == true)
        var twice = handlers
        twice.register(handled) { _, _ in }
        let duplicate = #expect(throws: ConfigurationError.self) { try twice.check(declared: [handled.erased]) }
        #expect(duplicate?.description.contains("'test.handled' has two handlers") == true)

        // The runtime makes the same check when it builds a service.
        // Nothing connects while a service is built, so the database need not exist.
        let cluster = TestCluster(database: TestDatabase(name: "t_never_created", admin: try TestEnvironment.adminURL()))
        let definition = ServiceDefinition(service: .ingestor, jobKinds: [orphan.erased]) { _ in ServiceAssembly() }
        let refused = #expect(throws: ConfigurationError.self) { _ = try makeRuntime(.ingestor, in: cluster, definition: definition) }
        #expect(refused?.description.contains("test.orphan") == true)
    }
}
