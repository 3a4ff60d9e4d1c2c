import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRPC
import BuildRiskRuntime
import FeatureExtractorCore
import Foundation
import GatewayCore
import GitHubSandboxCore
import HummingbirdWSClient
import IngestorCore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import SourceValidatorCore
import Synchronization
import Testing

/// Test databases, roles and schemas are made one at a time per test process. Tests start in
/// parallel, and concurrent catalog writes collide in PostgreSQL ("tuple concurrently updated" on a
/// role, "source database is being accessed by other users" on CREATE DATABASE); queueing them here
/// costs a few hundred milliseconds in all and removes the collisions instead of retrying them.
actor TestProvisioning {
    static let shared = TestProvisioning()
    private var roles: Set<String> = []
    private var tail: Task<Void, Never>?

    /// Runs `operation` after every operation queued before it has finished.
    func serially<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let previous = tail
        let task = Task<T, any Error> {
            await previous?.value
            return try await operation()
        }
        tail = Task { _ = try? await task.value }
        return try await task.value
    }

    /// Roles are cluster-wide: each is created once per test process.
    func hasRole(_ role: String) -> Bool { roles.contains(role) }
    func created(role: String) { roles.insert(role) }
}

/// A test's set-up error with PostgreSQL's own words (PSQLError's description hides them).
struct SetUpError: Error, CustomStringConvertible {
    var description: String
    init(_ step: String, _ error: any Error) {
        description = "\(step): \(String(reflecting: error))"
    }
}

/// A fresh database per test with every service's role and schema, dropped when the test ends,
/// passed or failed: only a test under ``TestDatabaseScope`` (`@Suite(.dropsTestDatabases)`) can make one.
struct TestDatabase: Sendable {
    let name: String
    let admin: DatabaseURL

    static func create(extraSchemas: [String] = []) async throws -> TestDatabase {
        guard let scope = TestDatabaseScope.current else {
            throw SetUpError("TestDatabase.create()", TestDatabaseScope.Missing())
        }
        let server = try TestEnvironment.adminURL()
        let name = String("t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
        let admin = DatabaseURL(username: server.username, password: server.password, host: server.host, port: server.port, database: name)
        let schemas = ServiceName.allCases.map(\.schema) + extraSchemas
        try await TestProvisioning.shared.serially {
            do {
                try await DatabaseProvisioner(adminURL: server, logger: TestEnvironment.logger).createDatabase(name)
            } catch {
                throw SetUpError("creating test database \(name)", error)
            }
            let inDatabase = DatabaseProvisioner(adminURL: admin, logger: TestEnvironment.logger)
            for schema in schemas where await !TestProvisioning.shared.hasRole(Self.role(schema)) {
                do {
                    try await inDatabase.ensureRole(Self.role(schema), password: TestEnvironment.tokens.databasePassword(for: schema))
                    await TestProvisioning.shared.created(role: Self.role(schema))
                } catch {
                    throw SetUpError("creating role \(Self.role(schema))", error)
                }
            }
            for schema in schemas {
                do {
                    try await inDatabase.ensureSchema(schema, owner: Self.role(schema))
                } catch {
                    throw SetUpError("creating schema \(schema) in \(name)", error)
                }
            }
        }
        let database = TestDatabase(name: name, admin: admin)
        scope.made(database)
        return database
    }

    /// The role a test's service connects as: not the product's `buildrisk_<schema>`, whose password
    /// a test would otherwise reset under a system `scripts/up` runs on the same cluster.
    static func role(_ schema: String) -> String { "buildrisk_test_\(schema)" }

    func url(forSchema schema: String) -> DatabaseURL {
        admin.forRole(Self.role(schema), password: TestEnvironment.tokens.databasePassword(for: schema))
    }

    /// Runs `body` with a superuser client on this database.
    func withAdminClient<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await withClient(admin, body)
    }

    /// Only ``TestDatabaseScope`` calls this, when the test that made the database ends.
    fileprivate func drop() async {
        try? await withClient(try TestEnvironment.adminURL()) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: TestEnvironment.logger)
        }
    }
}

/// Owns the lifetime of the test databases a test makes: each is dropped when the test ends,
/// whether it passed, failed or threw (a suite opts in with `@Suite(.dropsTestDatabases)`).
struct TestDatabaseScope: SuiteTrait, TestTrait, TestScoping {
    @TaskLocal static var current: Made?

    /// The databases made under one scope.
    final class Made: Sendable {
        private let databases = Mutex<[TestDatabase]>([])
        func made(_ database: TestDatabase) { databases.withLock { $0.append(database) } }
        func dropAll() async {
            for database in databases.withLock({ $0 }) { await database.drop() }
        }
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "the test's suite needs the .dropsTestDatabases trait, which drops the database when the test ends" }
    }

    /// Applies to each test of the suite, not to the suite as a whole.
    var isRecursive: Bool { true }

    func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        test.isSuite || testCase == nil ? nil : self
    }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        await TestSlots.shared.acquire()
        let made = Made()
        let outcome: Result<Void, any Error>
        do {
            try await Self.$current.withValue(made) { try await function() }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await made.dropAll()
        await TestSlots.shared.release()
        try outcome.get()
    }
}

extension Trait where Self == TestDatabaseScope {
    /// Every test database a test of this suite makes is dropped when the test ends.
    static var dropsTestDatabases: Self { Self() }
}

/// At most so many tests that need a database (most start services, clone, import) run at once.
/// Swift Testing starts every test together; on a two-core machine some forty such tests at once
/// starve each other past their timeouts (a CI run once spent its first 30 s with no test able to
/// answer its own in-process emulator). Set BUILDRISK_TEST_SLOTS to change the width.
/// A suite's time limit counts its tests' wait for a slot too (the scope runs inside it), so the
/// database suites' limits hold 10 minutes for the wait beside their own run time; the run as a
/// whole is bounded by scripts/test's watchdog.
actor TestSlots {
    static let shared = TestSlots(width: ProcessInfo.processInfo.environment["BUILDRISK_TEST_SLOTS"].flatMap(Int.init)
        ?? 3 * ProcessInfo.processInfo.activeProcessorCount)
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(width: Int) { free = max(width, 1) }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the slot to the longest-waiting test, or frees it.
    func release() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}

/// Runs `body` with a running PostgresClient for `url`.
func withClient<T: Sendable>(_ url: DatabaseURL, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    let client = PostgresClient(configuration: url.clientConfiguration(poolSize: 4), backgroundLogger: TestEnvironment.logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        defer { group.cancelAll() }
        return try await body(client)
    }
}
