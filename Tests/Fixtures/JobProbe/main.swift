import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

// A worker process for the job-queue tests: it runs the real JobWorker against a schema the test
// provisioned, and records every run of a job in `probe_runs`, so the test can count how often
// each job ran across processes, and can kill this process mid-job.
//
// Environment: PROBE_DATABASE_URL, PROBE_SCHEMA, PROBE_CONCURRENCY, PROBE_LEASE_SECONDS.

struct SlowPayload: Codable, Sendable {
    var milliseconds: Int
}

let environment = ProcessInfo.processInfo.environment
guard let urlText = environment["PROBE_DATABASE_URL"], let schema = environment["PROBE_SCHEMA"] else {
    FileHandle.standardError.write(Data("job-probe: PROBE_DATABASE_URL and PROBE_SCHEMA must be set\n".utf8))
    exit(2)
}
let concurrency = Int(environment["PROBE_CONCURRENCY"] ?? "") ?? 2
let lease = Duration.seconds(Int(environment["PROBE_LEASE_SECONDS"] ?? "") ?? 30)
let logger: Logger = {
    var logger = Logger(label: "job-probe")
    logger.logLevel = .warning
    return logger
}()

let url: DatabaseURL
do {
    url = try DatabaseURL(parsing: urlText)
} catch {
    FileHandle.standardError.write(Data("job-probe: \(error)\n".utf8))
    exit(2)
}
let client = PostgresClient(configuration: url.clientConfiguration(poolSize: concurrency + 4), backgroundLogger: logger)
let queue = JobQueue(client: client, schema: schema, logger: logger)
let owner = "probe:\(getpid())"

@Sendable func recordRun(_ job: Job) async throws {
    try await client.query(
        "INSERT INTO \(unescaped: schema).probe_runs (job_id, owner, attempt) VALUES (\(job.id), \(owner), \(job.attempt))",
        logger: logger)
}

// The same kinds as JobQueueTests enqueues.
var handlers = JobHandlers()
handlers.register(JobKind<Empty>("probe.record")) { _, context in try await recordRun(context.job) }
handlers.register(JobKind<SlowPayload>("probe.slow")) { payload, context in
    try await client.query(
        "INSERT INTO \(unescaped: schema).probe_starts (job_id, owner) VALUES (\(context.job.id), \(owner))", logger: logger)
    try await Task.sleep(for: .milliseconds(payload.milliseconds))
    try await recordRun(context.job)
}

struct ProbeMigrations: Service {
    let client: PostgresClient
    let schema: String
    let owner: String
    let logger: Logger

    func run() async throws {
        let migrator = try Migrator(
            client: client, schema: schema,
            migrations: JobQueue.migrations + [
                Migration(version: 100, name: "probe_runs", statements: [
                    "CREATE TABLE {schema}.probe_runs (job_id bigint NOT NULL, owner text NOT NULL, attempt integer NOT NULL, at timestamptz NOT NULL DEFAULT now())",
                    "CREATE TABLE {schema}.probe_starts (job_id bigint NOT NULL, owner text NOT NULL, at timestamptz NOT NULL DEFAULT now())",
                ])
            ],
            logger: logger)
        try await migrator.migrate()
        FileHandle.standardOutput.write(Data("READY \(owner)\n".utf8))
        try? await gracefulShutdown()
    }
}


let worker = JobWorker(
    queue: queue, handlers: handlers, concurrency: concurrency, lease: lease, shutdownGrace: .seconds(5),
    owner: owner, logger: logger,
    waitUntilReady: {
        // The worker claims only once the probe tables exist.
        while !Task.isCancelled, (try? await client.query("SELECT to_regclass(\(schema + ".probe_starts")) IS NOT NULL", logger: logger)
            .collect().first?.decode(Bool.self)) != true {
            try? await Task.sleep(for: .milliseconds(50))
        }
    })

let group = ServiceGroup(
    configuration: ServiceGroupConfiguration(
        services: [client, ProbeMigrations(client: client, schema: schema, owner: owner, logger: logger), worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
do {
    try await group.run()
} catch {
    FileHandle.standardError.write(Data("job-probe: \(error)\n".utf8))
    exit(1)
}
