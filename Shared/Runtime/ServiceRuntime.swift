import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import UnixSignals
import Synchronization

/// A service assembled and ready to run: PostgreSQL client, migrations, job worker and the
/// internal HTTP/2 server (`/rpc`, `/health`, `/ready`, `/metrics`, `/admin/`), in one
/// `ServiceGroup` that stops in reverse order on SIGTERM.
public struct ServiceRuntime: Sendable {
    public let environment: ServiceEnvironment
    public let group: ServiceGroup
    let readiness: Readiness
    /// The methods the service answers.
    public let methodNames: [String]

    /// Runs until shut down (SIGTERM/SIGINT, or ``shutdown()``).
    public func run() async throws {
        do {
            try await group.run()
        } catch {
            await environment.directory.http2.shutdown()
            try? await environment.directory.httpClient.shutdown()
            throw error
        }
        await environment.directory.http2.shutdown()
        try await environment.directory.httpClient.shutdown()
    }

    /// Begins a graceful shutdown.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }

    /// The service's readiness now.
    public func readinessReport() async -> ReadinessReport {
        await readiness.report()
    }
}

/// Builds a service from its configuration and definition; `@main` and the tests both call this.
public func buildService(
    _ configuration: ServiceConfiguration, _ definition: ServiceDefinition, logger: Logger,
    gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]
) throws -> ServiceRuntime {
    let service = configuration.service
    for setting in definition.settings { try setting.validate(configuration.environment) }
    var logger = logger
    logger[metadataKey: "service"] = "\(service.rawValue)"
    // The configuration's description leaves its secrets out (IngestionTests checks the logs for them).
    logger.info("starting", metadata: ["configuration": "\(configuration)"])

    let tls = TLSMaterial(directory: configuration.tlsDirectory)
    let serverTLS: TLSConfiguration
    let clientTLS: TLSConfiguration
    do {
        serverTLS = try tls.serverConfiguration(for: service.rawValue)
        clientTLS = try tls.clientConfiguration()
    } catch {
        throw ConfigurationError("TLS material for \(service.rawValue) is missing or unreadable in \(configuration.tlsDirectory) (run `buildrisk-admin tls-init --dir \(configuration.tlsDirectory)`): \(error)")
    }
    let postgres = PostgresClient(
        configuration: configuration.database.clientConfiguration(poolSize: configuration.databasePoolSize),
        backgroundLogger: logger)
    let httpClient = ServiceDirectory.makeHTTPClient(tls: clientTLS)
    let http2: HTTP2Client
    do {
        http2 = try HTTP2Client(tls: clientTLS)
    } catch {
        try? httpClient.syncShutdown()
        throw ConfigurationError("the internal CA in \(configuration.tlsDirectory) cannot be loaded: \(error)")
    }
    let environment = ServiceEnvironment(
        configuration: configuration,
        postgres: postgres,
        queue: JobQueue(client: postgres, schema: service.schema, logger: logger),
        directory: ServiceDirectory(configuration: configuration, http2: http2, httpClient: httpClient),
        metrics: ServiceMetrics(),
        tls: tls,
        logger: logger)

    let assembly: ServiceAssembly
    do {
        assembly = try definition.assemble(environment)
        try assembly.jobs.check(declared: definition.jobKinds)
    } catch {
        try? httpClient.syncShutdown()
        throw error
    }
    let migrator = try Migrator(
        client: postgres, schema: service.schema, migrations: JobQueue.migrations + definition.migrations, logger: logger)
    let readiness = Readiness(service: service, migrator: migrator, queue: environment.queue)

    var methods = assembly.methods
    methods.register(SystemMethods.readiness) { _, _ in await readiness.report() }
    let metrics = environment.metrics
    methods.observer = { method, outcome in metrics.recordCall(method: method, outcome: outcome) }

    let worker = JobWorker(
        queue: environment.queue, handlers: assembly.jobs, concurrency: configuration.jobConcurrency,
        lease: configuration.jobLease, logger: logger,
        waitUntilReady: { _ = await readiness.waitUntilMigrated() })
    // Outbox deliveries get slots of their own: while a receiver is down each attempt waits out a
    // connect timeout, and they must not take the slots the service's own work runs in.
    let outboxWorker = JobWorker(
        queue: environment.queue, handlers: Outbox.handlers(directory: environment.directory),
        concurrency: Outbox.concurrency, lease: configuration.jobLease, logger: logger,
        waitUntilReady: { _ = await readiness.waitUntilMigrated() })

    let adminAuthorizer = assembly.adminAuthorizer ?? { [adminToken = configuration.adminToken] token in
        guard let adminToken else { return false }
        return constantTimeEquals(Array(token.utf8), Array(adminToken.utf8))
    }
    let responder = InternalRoutes(
        environment: environment, dispatcher: methods, readiness: readiness, adminAuthorizer: adminAuthorizer
    ).responder()
    let server = InternalHTTPServer(
        host: configuration.host, port: configuration.port, tlsConfiguration: serverTLS,
        maxBodyBytes: configuration.rpcMaxBodyBytes, logger: logger, responder: responder)

    let migrations = MigrationService(
        migrator: migrator, readiness: readiness, afterMigrations: assembly.afterMigrations, logger: logger)
    var groupConfiguration = ServiceGroupConfiguration(
        // Stopped in reverse: the internal server first (GOAWAY on its connections at once, the
        // calls in flight answered while everything behind them still runs), then the service's
        // own parts, the job workers (their jobs meet closed parts as retryable failures and are
        // released), PostgreSQL last.
        services: [postgres, migrations, worker, outboxWorker] + assembly.services + [server],
        gracefulShutdownSignals: gracefulShutdownSignals,
        logger: logger)
    // The worker's grace (10 s) and the server's drain (10 s) run one after the other; a part that
    // is still stopping after this is cancelled rather than holding the process.
    groupConfiguration.maximumGracefulShutdownDuration = .seconds(45)
    let group = ServiceGroup(configuration: groupConfiguration)
    return ServiceRuntime(environment: environment, group: group, readiness: readiness, methodNames: methods.methodNames)
}

/// Applies migrations at start (retrying while the database is unreachable), then holds until shutdown.
struct MigrationService: Service {
    let migrator: Migrator
    let readiness: Readiness
    let afterMigrations: @Sendable () async throws -> Void
    let logger: Logger

    func run() async throws {
        var delay: Duration = .milliseconds(200)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await migrator.migrate()
                try await afterMigrations()
                await readiness.markMigrated()
                break
            } catch {
                await readiness.markFailure("\(error)")
                logger.error("migrations failed; retrying", metadata: ["error": "\(String(reflecting: error))", "retryIn": "\(delay)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(10))
            }
        }
        try? await gracefulShutdown()
    }
}

/// Whether the service's migrations are applied, and its readiness report.
actor Readiness {
    let service: ServiceName
    let migrator: Migrator
    let queue: JobQueue
    private var migrated = false
    private var lastFailure: String?
    private let migratedFlag = OnceFlag()

    init(service: ServiceName, migrator: Migrator, queue: JobQueue) {
        self.service = service
        self.migrator = migrator
        self.queue = queue
    }

    func markMigrated() {
        migrated = true
        lastFailure = nil
        migratedFlag.fire()
    }

    func markFailure(_ reason: String) {
        lastFailure = reason
    }

    /// Waits until the migrations are applied (true), or until the waiting task is cancelled (false).
    nonisolated func waitUntilMigrated() async -> Bool {
        await migratedFlag.wait()
    }

    func report() async -> ReadinessReport {
        let migrator = self.migrator
        let queue = self.queue
        do {
            let (status, jobs) = try await withTimeout(.seconds(3)) {
                (try await migrator.status(), try await queue.countsByState())
            }
            let ready = migrated && status.pending == 0
            return ReadinessReport(
                service: service, ready: ready, databaseReachable: true, migrationVersion: status.version,
                pendingMigrations: status.pending, jobs: jobs,
                reason: ready ? nil : (lastFailure ?? "migrations are not applied yet"))
        } catch {
            return ReadinessReport(
                service: service, ready: false, databaseReachable: false, migrationVersion: nil,
                pendingMigrations: migrator.migrations.count, jobs: [:],
                reason: "database unreachable: \(error)")
        }
    }
}

/// The entry point of every service executable.
public enum ServiceMain {
    /// Reads the configuration, builds the service and runs it until SIGTERM; exits non-zero on failure.
    public static func run(_ definition: ServiceDefinition) async {
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.load(definition.service, settings: definition.settings)
        } catch {
            FileHandle.standardError.write(Data("\(definition.service.rawValue): configuration error: \(error)\n".utf8))
            exit(2)
        }
        // A write to a peer that went away must fail with EPIPE, not end the service.
        _ = signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        let logger = Logger(label: "buildrisk.\(definition.service.rawValue)")
        do {
            try await buildService(configuration, definition, logger: logger).run()
        } catch {
            logger.critical("stopped with an error", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}
