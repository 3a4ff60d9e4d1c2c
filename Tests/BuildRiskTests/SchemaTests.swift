import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import IngestorCore
import NIOCore
import NIOPosix
import PostgresNIO
import Testing

/// One schema per service, enforced by PostgreSQL roles; migrations safe under concurrent starts.
@Suite(.timeLimit(.minutes(13)), .dropsTestDatabases)
struct SchemaTests {
    @Test func twoCopiesOfOneServiceMigratingAtOnceBothComeUp() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        var first = cluster.environment(for: .ingestor)
        var second = first
        first["INGESTOR_PORT"] = String(freePort())
        second["INGESTOR_PORT"] = String(freePort())
        let copies = [
            try ChildProcess(executable: "ingestor", environment: first),
            try ChildProcess(executable: "ingestor", environment: second),
        ]
        try await withTestHTTPClient { httpClient in
            for environment in [first, second] {
                let url = "https://127.0.0.1:\(environment["INGESTOR_PORT"] ?? "")/ready"
                try await waitUntil("copy on \(url) is ready", timeout: startupTimeout) {
                    (try? await http(httpClient, .GET, url))?.status == 200
                }
            }
        }
        for copy in copies {
            copy.kill(SIGTERM)
            await copy.waitForExit()
            #expect(copy.process.terminationStatus == 0)
        }
        try await withClient(database.url(forSchema: "ingestor")) { client in
            let rows = try await client.query("SELECT version, count(*)::int8 FROM ingestor.schema_migrations GROUP BY version", logger: TestEnvironment.logger).collect()
            #expect(rows.count == JobQueue.migrations.count + IngestionPostgresStore.migrations.count)
            for row in rows {
                #expect(try row.decode((Int, Int64).self).1 == 1)
            }
        }
    }

    /// A service that cannot start (its port is taken) exits with the reason, promptly. It used
    /// to wait forever: its job worker waited for migrations that shutdown had stopped.
    @Test func aServiceWhosePortIsTakenExitsWithTheReason() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let port = try #require(cluster.ports[.ingestor])
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: port).get()
        let logPath = cluster.dataDirectory + "-ingestor.log"
        let child = try ChildProcess(executable: "ingestor", environment: cluster.environment(for: .ingestor), logPath: logPath)
        await child.waitForExit(timeout: .seconds(30))
        try await holder.close()
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(child.process.terminationReason == .exit, "the service was still running after 30 s and had to be killed")
        #expect(child.process.terminationStatus != 0)
        #expect(log.contains("Address already in use"), "log: \(log.suffix(2000))")
    }

    @Test func aServiceRoleCannotReadAnotherServicesSchema() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        // Both schemas have their tables.
        try await withServices([try makeRuntime(.ingestor, in: cluster), try makeRuntime(.gateway, in: cluster)]) {}
        try await withClient(database.url(forSchema: "gateway")) { client in
            // Its own schema works.
            _ = try await client.query("SELECT count(*) FROM gateway.jobs", logger: TestEnvironment.logger).collect()
            for query: PostgresQuery in ["SELECT count(*) FROM ingestor.jobs", "INSERT INTO ingestor.jobs (kind) VALUES ('x')", "CREATE TABLE ingestor.sneaky (id int)"] {
                do {
                    _ = try await client.query(query, logger: TestEnvironment.logger).collect()
                    Issue.record("the gateway role could run: \(query.sql)")
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.sqlState] == "42501", "\(query.sql): \(String(reflecting: error))")
                }
            }
            // Nor can it create objects in the public schema.
            let refused = await #expect(throws: PSQLError.self) {
                _ = try await client.query("CREATE TABLE public.sneaky (id int)", logger: TestEnvironment.logger).collect()
            }
            #expect(refused?.serverInfo?[.sqlState] == "42501", "\(String(reflecting: refused))")
        }
    }

    @Test func configurationIsReadFromFlagsThenEnvironmentAndBadValuesAreRefused() throws {
        let environment = [
            "BUILDRISK_SERVICE_SECRET": TestEnvironment.secret,
            "DATABASE_URL": "postgres://app:pw@db.example:5433/buildrisk",
            "INGESTOR_PORT": "9001",
        ]
        let configuration = try ServiceConfiguration.load(.ingestor, environment: environment, arguments: ["--port", "9100", "--log-level=debug"])
        #expect(configuration.port == 9100)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.database.username == "buildrisk_ingestor")
        #expect(configuration.database.host == "db.example")
        #expect(configuration.database.port == 5433)
        #expect(configuration.database.password == TestEnvironment.tokens.databasePassword(for: "ingestor"))
        #expect(configuration.serviceURLs[.gateway] == "https://127.0.0.1:8101")
        #expect(!configuration.description.contains("pw"))
        #expect(!configuration.description.contains(configuration.database.password ?? "-"))

        #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration(service: .ingestor, environment: environment.merging(["INGESTOR_PORT": "http"]) { $1 })
        }
        #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration(service: .ingestor, environment: ["DATABASE_URL": "postgres://a@b/c"])
        }
        #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration.load(.ingestor, environment: environment, arguments: ["--port"])
        }
    }

    /// A service whose database does not answer stays up and says so: `/ready` answers 503 with
    /// the reason, and 200 once it is migrated against a database that answers.
    @Test func readyAnswers503WithTheReasonWhileTheDatabaseIsUnreachable() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        var unreachable = cluster.environment(for: .ingestor)
        let port = freePort()  // nothing listens there
        unreachable["INGESTOR_DATABASE_URL"] = "postgres://buildrisk_ingestor:secret@127.0.0.1:\(port)/nowhere"
        let child = try ChildProcess(executable: "ingestor", environment: unreachable)
        try await withTestHTTPClient { httpClient in
            let url = "https://127.0.0.1:\(unreachable["INGESTOR_PORT"] ?? "")/ready"
            let answer = Locked<HTTPResult?>(nil)
            try await waitUntil("/ready answers", timeout: startupTimeout) {
                let result = try? await http(httpClient, .GET, url)
                answer.update { $0 = result }
                return result != nil
            }
            let refused = try #require(answer.value)
            #expect(refused.status == 503)
            let report = try JSONDecoder().decode(ReadinessReport.self, from: refused.body)
            #expect(report.ready == false)
            #expect(report.databaseReachable == false)
            #expect(report.reason?.isEmpty == false, "a 503 says why")
            child.kill(SIGTERM)
            await child.waitForExit()

            // The same service against the database that answers is ready.
            let reachable = cluster.environment(for: .ingestor)
            let healthy = try ChildProcess(executable: "ingestor", environment: reachable)
            let readyURL = "https://127.0.0.1:\(reachable["INGESTOR_PORT"] ?? "")/ready"
            try await waitUntil("the ingestor is ready", timeout: startupTimeout) {
                (try? await http(httpClient, .GET, readyURL))?.status == 200
            }
            healthy.kill(SIGTERM)
            await healthy.waitForExit()
        }
    }
}
