import BuildRiskContracts
import Foundation
import Logging
import PostgresNIO

extension DatabaseURL {
    /// A pooled PostgresNIO client configuration for this URL.
    public func clientConfiguration(poolSize: Int = 10) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        configuration.options.maximumConnections = poolSize
        // Keep one connection warm: a cold one pays the SCRAM handshake on the request's time.
        configuration.options.minimumConnections = 1
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}

/// One schema change. Statements may name the schema as `{schema}`; they run in one transaction.
///
/// Versions 1–99 belong to the shared runtime (jobs), 100 and up to the service's own domain.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Why migrations could not be applied.
public struct MigrationError: Error, CustomStringConvertible {
    public var description: String
}

/// Applies a schema's ordered migrations under a PostgreSQL advisory lock and records them in
/// `<schema>.schema_migrations`, so replicas starting at the same moment apply each once.
public struct Migrator: Sendable {
    public let client: PostgresClient
    public let schema: String
    public let migrations: [Migration]
    let logger: Logger

    public init(client: PostgresClient, schema: String, migrations: [Migration], logger: Logger) throws {
        let versions = migrations.map(\.version)
        guard Set(versions).count == versions.count else {
            throw MigrationError(description: "migration versions of \(schema) are not unique: \(versions.sorted())")
        }
        self.client = client
        self.schema = schema
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// The advisory-lock key of this schema's migrations: a stable 64-bit FNV-1a hash of its name.
    var lockKey: Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "buildrisk.migrate.\(schema)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// Applies every pending migration; returns the versions it applied.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await client.withConnection { connection in
            // Session-level lock: held by this connection until unlocked or the connection dies.
            try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
            do {
                let applied = try await apply(on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                throw error
            }
        }
    }

    private func apply(on connection: PostgresConnection) async throws -> [Int] {
        try await connection.query(
            PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(schema).schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """), logger: logger)
        var done = Set<Int>()
        for try await version in try await connection.query(
            "SELECT version FROM \(unescaped: schema).schema_migrations", logger: logger
        ).decode(Int.self) {
            done.insert(version)
        }
        var applied: [Int] = []
        for migration in migrations where !done.contains(migration.version) {
            do {
                try await connection.withTransaction(logger: logger) { transaction in
                    for statement in migration.statements {
                        let sql = statement.replacingOccurrences(of: "{schema}", with: schema)
                        try await transaction.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                    }
                    try await transaction.query(
                        "INSERT INTO \(unescaped: schema).schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                        logger: logger)
                }
            } catch let error as PostgresTransactionError {
                throw MigrationError(description: "migration \(migration.version) (\(migration.name)) of \(schema) failed: \(String(reflecting: error.closureError ?? error.commitError ?? error))")
            }
            logger.info("applied migration", metadata: ["schema": "\(schema)", "version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration.version)
        }
        return applied
    }

    /// The newest applied version and how many known migrations are not applied yet.
    public func status() async throws -> (version: Int?, pending: Int) {
        var done = Set<Int>()
        let exists = try await client.query(
            "SELECT to_regclass(\(schema + ".schema_migrations")) IS NOT NULL", logger: logger
        ).collect().first?.decode(Bool.self) ?? false
        if exists {
            for try await version in try await client.query(
                "SELECT version FROM \(unescaped: schema).schema_migrations", logger: logger
            ).decode(Int.self) {
                done.insert(version)
            }
        }
        let pending = migrations.filter { !done.contains($0.version) }.count
        return (done.max(), pending)
    }
}

/// Creates a service's role and schema with a superuser connection: the role owns its schema
/// and nothing else, so a query into another service's schema fails in the database.
public struct DatabaseProvisioner: Sendable {
    public let adminURL: DatabaseURL
    let logger: Logger

    public init(adminURL: DatabaseURL, logger: Logger) {
        self.adminURL = adminURL
        self.logger = logger
    }

    /// Creates (or updates the password of) `role` and creates `schema` owned by it. Idempotent.
    public func provision(schema: String, role: String, password: String) async throws {
        try await ensureRole(role, password: password)
        try await ensureSchema(schema, owner: role)
    }

    /// Creates `role` (LOGIN, the given password) or resets its password.
    public func ensureRole(_ role: String, password: String) async throws {
        guard Self.isPlainIdentifier(role) else { throw ConfigurationError("'\(role)' is not a plain lower-case SQL identifier") }
        guard password.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }), !password.isEmpty else {
            throw ConfigurationError("a derived role password must be alphanumeric")
        }
        try await withAdminClient { client in
            // Roles are cluster-wide: concurrent provisioning can collide on them ("tuple
            // concurrently updated"), which a retry resolves.
            var attempt = 0
            while true {
                do {
                    try await client.query(PostgresQuery(unsafeSQL: """
                        DO $$ BEGIN
                            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(role)') THEN
                                CREATE ROLE \(role) LOGIN PASSWORD '\(password)';
                            ELSE
                                ALTER ROLE \(role) LOGIN PASSWORD '\(password)';
                            END IF;
                        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                        END $$
                        """), logger: logger)
                    return
                } catch {
                    attempt += 1
                    if attempt >= 8 { throw error }
                    try await Task.sleep(for: .milliseconds(50 * attempt))
                }
            }
        }
    }

    /// Creates `schema` owned by `owner`, with no privileges for anyone else.
    public func ensureSchema(_ schema: String, owner: String) async throws {
        for identifier in [schema, owner] where !Self.isPlainIdentifier(identifier) {
            throw ConfigurationError("'\(identifier)' is not a plain lower-case SQL identifier")
        }
        try await withAdminClient { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema) AUTHORIZATION \(owner)"), logger: logger)
            try await client.query(PostgresQuery(unsafeSQL: "ALTER SCHEMA \(schema) OWNER TO \(owner)"), logger: logger)
            try await client.query(PostgresQuery(unsafeSQL: "REVOKE ALL ON SCHEMA \(schema) FROM PUBLIC"), logger: logger)
        }
    }

    private func withAdminClient(_ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: adminURL.clientConfiguration(poolSize: 2), backgroundLogger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }

    /// Creates a database if it does not exist (used by tests and the tools).
    public func createDatabase(_ name: String) async throws {
        guard Self.isPlainIdentifier(name) else { throw ConfigurationError("'\(name)' is not a plain database name") }
        try await withAdminClient { client in
            let exists = try await client.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger)
                .collect().isEmpty == false
            if !exists {
                try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            }
        }
    }

    static func isPlainIdentifier(_ text: String) -> Bool {
        guard let first = text.first, first.isLetter || first == "_" else { return false }
        return text.count <= 63 && text.allSatisfy { ($0.isLowercase && $0.isASCII) || $0.isNumber || $0 == "_" }
    }
}
