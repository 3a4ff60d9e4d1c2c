/// Methods every service serves.
public enum SystemMethods {
    /// Whether the service can do its work: database reachable, migrations applied.
    public static let readiness = RPCMethod<Empty, ReadinessReport>(
        "system.readiness",
        summary: "Reports whether the service's database is reachable and its migrations are applied, with its job counts."
    )
}

/// A service's readiness, as reported over RPC and by `GET /ready`.
public struct ReadinessReport: Codable, Sendable, Equatable {
    public var service: ServiceName
    public var ready: Bool
    public var databaseReachable: Bool
    /// Version of the newest applied migration, or nil when none is applied yet.
    public var migrationVersion: Int?
    /// Migrations the service knows but has not applied.
    public var pendingMigrations: Int
    /// Jobs in this service's queue by state (queued, running, succeeded, dead, cancelled).
    public var jobs: [String: Int]
    /// Why the service is not ready, when it is not.
    public var reason: String?

    public init(
        service: ServiceName, ready: Bool, databaseReachable: Bool, migrationVersion: Int?,
        pendingMigrations: Int, jobs: [String: Int], reason: String?
    ) {
        self.service = service
        self.ready = ready
        self.databaseReachable = databaseReachable
        self.migrationVersion = migrationVersion
        self.pendingMigrations = pendingMigrations
        self.jobs = jobs
        self.reason = reason
    }
}
