import PostgresNIO
import Synchronization
import Testing

/// Test databases do not outlive their test, even one that fails.
struct TestDatabaseTests {
    struct Failed: Error {}

    @Test func aTestDatabaseIsDroppedWhenItsTestThrows() async throws {
        let made = Mutex<String?>(nil)
        let test = try #require(Test.current)
        await #expect(throws: Failed.self) {
            try await TestDatabaseScope().provideScope(for: test, testCase: Test.Case.current) {
                let database = try await TestDatabase.create()
                made.withLock { $0 = database.name }
                throw Failed()
            }
        }
        let name = try #require(made.withLock { $0 })
        #expect(try await databaseExists(name) == false)
    }

    @Test func aTestDatabaseLivesUntilItsTestEnds() async throws {
        let test = try #require(Test.current)
        try await TestDatabaseScope().provideScope(for: test, testCase: Test.Case.current) {
            let database = try await TestDatabase.create()
            #expect(try await databaseExists(database.name))
        }
    }

    @Test func outsideAScopeNoTestDatabaseIsMade() async throws {
        await #expect(throws: SetUpError.self) { _ = try await TestDatabase.create() }
    }

    func databaseExists(_ name: String) async throws -> Bool {
        try await withClient(try TestEnvironment.adminURL()) { client in
            var count = 0
            for try await _ in try await client.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: TestEnvironment.logger) {
                count += 1
            }
            return count == 1
        }
    }
}
