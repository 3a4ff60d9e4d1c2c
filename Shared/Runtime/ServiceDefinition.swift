import BuildRiskContracts
import BuildRiskRPC
import Logging
import PostgresNIO
import ServiceLifecycle

/// What one service adds to the shared runtime.
public struct ServiceDefinition: Sendable {
    public var service: ServiceName
    /// The settings the service reads besides the runtime's (``RuntimeSettings``), declared by
    /// the parts that own them (`GitHubConfiguration.settings`, `IngestorConfiguration.settings`);
    /// each is checked at start, and docker-compose.yml and the README are checked against them.
    public var settings: [SettingDeclaration]
    /// The service's own migrations (versions 100 and up; the runtime's come first).
    public var migrations: [Migration]
    /// Every job kind the service enqueues; each must have exactly one handler in the assembly
    /// (checked at start).
    public var jobKinds: [AnyJobKind]
    /// Called once at start with the live environment; returns the service's methods, job
    /// handlers and extra long-running services.
    public var assemble: @Sendable (ServiceEnvironment) throws -> ServiceAssembly

    public init(
        service: ServiceName, settings: [SettingDeclaration] = [], migrations: [Migration] = [], jobKinds: [AnyJobKind] = [],
        assemble: @escaping @Sendable (ServiceEnvironment) throws -> ServiceAssembly = { _ in ServiceAssembly() }
    ) {
        self.service = service
        self.settings = settings
        self.migrations = migrations
        self.jobKinds = jobKinds
        self.assemble = assemble
    }
}

/// The parts a service contributes, assembled against its ``ServiceEnvironment``.
public struct ServiceAssembly: Sendable {
    /// The service's RPC methods (the runtime adds `system.readiness`).
    public var methods: RPCDispatcher
    /// Job handlers by typed kind (the runtime adds the outbox's).
    public var jobs: JobHandlers
    /// Long-running parts started after the runtime's own (e.g. the gateway's public server).
    public var services: [any Service]
    /// Runs once after migrations are applied and before the service reports ready.
    public var afterMigrations: @Sendable () async throws -> Void
    /// Decides whether a bearer token may use `/admin/`; by default only `BUILDRISK_ADMIN_TOKEN`.
    public var adminAuthorizer: (@Sendable (String) async -> Bool)?

    public init(
        methods: RPCDispatcher = RPCDispatcher(), jobs: JobHandlers = JobHandlers(), services: [any Service] = [],
        afterMigrations: @escaping @Sendable () async throws -> Void = {},
        adminAuthorizer: (@Sendable (String) async -> Bool)? = nil
    ) {
        self.methods = methods
        self.jobs = jobs
        self.services = services
        self.afterMigrations = afterMigrations
        self.adminAuthorizer = adminAuthorizer
    }
}

/// The live things a service works with, made once at start and passed down.
public struct ServiceEnvironment: Sendable {
    public let configuration: ServiceConfiguration
    public let postgres: PostgresClient
    public let queue: JobQueue
    public let directory: ServiceDirectory
    public let metrics: ServiceMetrics
    public let tls: TLSMaterial
    public let logger: Logger

    /// This service's schema name, for SQL (`\(unescaped: environment.schema)`).
    public var schema: String { configuration.service.schema }
}
