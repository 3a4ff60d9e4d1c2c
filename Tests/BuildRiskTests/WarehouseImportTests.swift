import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import GatewayCore
import GitHubSandboxCore
import Hummingbird
import HummingbirdWSClient
import Logging
import PostgresNIO
import ServiceLifecycle
import SourceValidatorCore
import Synchronization
import Testing

/// Importing repositories from the GitHub sandbox: the model pipeline's first phase.
@Suite(.timeLimit(.minutes(15)), .dropsTestDatabases)
struct WarehouseImportTests {
    /// Runs the sandbox API on a free port around `body`.
    /// A sandbox GitHub with these repositories (those named in `privateRepositories` private)
    /// serving its API at the base URL `body` gets; with `gitOverHTTPS`, its git host serves the
    /// clones over https (the tests' CA signed its certificate), and `clone_url` says so.
    func withSandbox<T: Sendable>(
        _ repositories: [(String, Int)], privateRepositories: Set<String> = [], gitOverHTTPS: Bool = false,
        _ body: @Sendable (SandboxAPI, String) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-\(UUID().uuidString)").path
        let world = SandboxWorld(directory: directory, seed: 11)
        try await offThePool {
            for (fullName, commits) in repositories {
                let parts = fullName.split(separator: "/").map(String.init)
                try world.addRepository(owner: parts[0], name: parts[1], commits: commits, isPrivate: privateRepositories.contains(fullName))
            }
        }
        let api = SandboxAPI(world: world)
        let port = freePort()
        let baseURL = "http://127.0.0.1:\(port)"
        let app = Application(
            router: api.router(baseURL: baseURL),
            configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: TestEnvironment.logger)
        var services: [any Service] = [app]
        if gitOverHTTPS {
            let (certificate, key) = try GitRepositoryTests.gitHTTPSCertificate.get()
            services.append(try api.gitHost(port: freePort(), certificatePath: certificate, keyPath: key, logger: TestEnvironment.logger))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [], logger: TestEnvironment.logger))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await waitUntil("the sandbox answers", timeout: startupTimeout) {
                (try? await http(TestEnvironment.httpClient, .GET, baseURL + "/_sandbox/stats"))?.status == 200
            }
            do {
                let result = try await body(api, baseURL)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    /// The runs an import must admit: completed, with a conclusion other than skipped, action_required, stale.
    func admitted(_ runs: [SandboxRun]) -> Set<Int64> {
        Set(runs.filter { $0.status == "completed" && $0.conclusion.map { !["skipped", "action_required", "stale"].contains($0) } == true }.map(\.id))
    }

    func storedRunIDs(_ database: TestDatabase) async throws -> [Int64] {
        try await withClient(database.url(forSchema: "source_validator")) { client in
            try await client.query("SELECT run_id FROM source_validator.raw_build_runs", logger: TestEnvironment.logger).collect().map { try $0.decode(Int64.self) }
        }
    }

    func config(_ cluster: TestCluster, _ id: Int, token: String = TestEnvironment.adminToken) async throws -> RepositoryConfig {
        let answer = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)", token: token)
        return try HTTPHelpers.decoder.decode(RepositoryConfig.self, from: answer.body)
    }

    func importRepositories(_ cluster: TestCluster, _ body: String, token: String = TestEnvironment.adminToken) async throws -> HTTPResult {
        try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/import/bulk", token: token, body: Data(body.utf8))
    }

    @Test func anImportUnderFaultsEndsWithExactlyTheAdmittedRunsNoneTwiceNoneLost() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withSandbox([("acme/payments", 2500)]) { api, baseURL in
            var faults = SandboxFaults()
            faults.errorRate = 0.05
            faults.secondaryRateLimitEvery = 13
            // Fixed windows of 5 s with 10 requests each: the import outpaces them and waits.
            faults.rateLimitBudget = 10
            faults.rateLimitResetSeconds = 5
            api.setFaults(faults)
            let gateway = try makeRuntime(.gateway, in: cluster)
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([gateway, validator]) {
                let answer = try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/payments"}]}"#)
                #expect(answer.status == 202)
                let configs = try HTTPHelpers.decoder.decode([RepositoryConfig].self, from: answer.body)
                let id = try #require(configs.first?.id)
                try await waitUntil("the import is fetched", timeout: .seconds(240)) {
                    let status = try await config(cluster, Int(id)).status
                    if status == .failed { throw WaitTimeout(description: "import failed: \(try await config(cluster, Int(id)).message ?? "")") }
                    return status == .fetched
                }
                let expected = admitted(try #require(api.world.repository("acme/payments")).runs)
                #expect(expected.count > 1000)
                let stored = try await storedRunIDs(database)
                #expect(stored.count == expected.count)
                #expect(Set(stored) == expected)
                let final = try await config(cluster, Int(id))
                #expect(final.progress?.imported == expected.count)
                #expect(final.repository?.fullName == "acme/payments")
                let stats = api.currentStats
                #expect(stats.serverErrors > 0)
                #expect(stats.secondaryRateLimited > 0)
                // Budgets were spent and waited out (a client reading x-ratelimit-remaining rests a
                // spent token before GitHub has to refuse it, so 403s are rare, not required).
                #expect(stats.budgetsSpent >= 2)

                // The builds are listed through the gateway, newest first.
                let builds = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)/builds?limit=5", token: TestEnvironment.adminToken)
                let page = try JSONDecoder().decode(BuildPage.self, from: builds.body)
                #expect(page.total == expected.count)
                #expect(page.builds.count == 5)
                #expect(page.builds.map(\.runId) == page.builds.map(\.runId).sorted(by: >))
            }
        }
    }

    @Test func aSyncFetchesOnlyNewRunsAndAnUnchangedRepositoryCostsOnly304s() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withSandbox([("acme/web", 150)]) { api, baseURL in
            let gateway = try makeRuntime(.gateway, in: cluster)
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([gateway, validator]) {
                let answer = try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/web"}]}"#)
                let id = Int(try #require(try HTTPHelpers.decoder.decode([RepositoryConfig].self, from: answer.body).first?.id))
                try await waitUntil("the first import is fetched") { try await config(cluster, id).status == .fetched }
                let before = Set(try await storedRunIDs(database))
                #expect(before == admitted(try #require(api.world.repository("acme/web")).runs))

                try api.world.addActivity(fullName: "acme/web", commits: 20)
                let expectedNew = admitted(try #require(api.world.repository("acme/web")).runs).subtracting(before)
                #expect(!expectedNew.isEmpty)
                let sequence = try await config(cluster, id).progress?.sequence ?? 0
                #expect(try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/\(id)/sync-run", token: TestEnvironment.adminToken).status == 202)
                try await waitUntil("the sync is fetched") {
                    let now = try await config(cluster, id)
                    return now.status == .fetched && (now.progress?.sequence ?? 0) > sequence
                }
                let after = Set(try await storedRunIDs(database))
                #expect(after.subtracting(before) == expectedNew)
                #expect(try await config(cluster, id).progress?.imported == expectedNew.count)

                // Nothing changed since: every request is answered 304.
                let sequence2 = try await config(cluster, id).progress?.sequence ?? 0
                #expect(try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/\(id)/sync-run", token: TestEnvironment.adminToken).status == 202)
                try await waitUntil("the second sync is fetched") {
                    let now = try await config(cluster, id)
                    return now.status == .fetched && (now.progress?.sequence ?? 0) > sequence2
                }
                let progress = try #require(try await config(cluster, id).progress)
                #expect(progress.imported == 0)
                #expect(progress.apiRequests > 0)
                #expect(progress.notModified == progress.apiRequests)
            }
        }
    }

    @Test func onlyWithLogsLeavesOutRunsWhoseLogsExpired() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withSandbox([("acme/retention", 150)]) { api, baseURL in
            var faults = SandboxFaults()
            faults.logRetentionDays = 3
            try await http(TestEnvironment.httpClient, .POST, baseURL + "/_sandbox/faults", body: try JSONEncoder().encode(faults))
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([try makeRuntime(.gateway, in: cluster), validator]) {
                let answer = try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/retention","onlyWithLogs":true}]}"#)
                #expect(answer.status == 202)
                let created = try JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]]
                let id = try #require(created?.first?["id"] as? Int)
                try await waitUntil("the import is fetched", timeout: .seconds(120)) {
                    try await config(cluster, id).progress?.status == .fetched
                }
                // GitHub keeps logs for a retention window (here three days back from the newest run).
                let runs = try #require(api.world.repository("acme/retention")).runs
                let newest = try #require(runs.first.flatMap { try? Date($0.created_at, strategy: .iso8601) })
                let withLogs = runs.filter { run in
                    (try? Date(run.created_at, strategy: .iso8601)).map { $0 >= newest.addingTimeInterval(-3 * 86_400) } == true
                }
                let expected = admitted(withLogs)
                #expect(!expected.isEmpty && expected.count < admitted(runs).count)
                #expect(Set(try await storedRunIDs(database)) == expected)
                let progress = try #require(try await config(cluster, id).progress)
                #expect(progress.imported == expected.count)
                #expect(progress.filtered == runs.count - expected.count)
            }
        }
    }

    /// `maxBuilds` keeps the newest admitted runs and no more; `excludeBots` leaves out exactly the
    /// runs a bot triggered (the sandbox's own runs say which); `sinceDays` leaves out exactly the
    /// runs created before that many days ago.
    @Test func maxBuildsKeepsTheNewestRunsExcludeBotsLeavesOutTheBotsSinceDaysTheOldRuns() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withSandbox([("acme/limited", 120), ("acme/botty", 120), ("acme/recent", 120)]) { api, baseURL in
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([try makeRuntime(.gateway, in: cluster), validator]) {
                // The sandbox's runs lie years back: a window that ends inside them, from their median's age.
                let recent = try #require(api.world.repository("acme/recent")).runs
                let recentCreated = recent.compactMap { run in (try? Date(run.created_at, strategy: .iso8601)).map { (run: run, at: $0) } }
                try #require(recentCreated.count == recent.count)
                let median = recentCreated.map(\.at).sorted()[recentCreated.count / 2]
                let sinceDays = Int((Date().timeIntervalSince(median) / 86_400).rounded(.up))
                let cutoff = Date().addingTimeInterval(-Double(sinceDays) * 86_400)
                let answer = try await importRepositories(
                    cluster,
                    #"{"repositories":[{"fullName":"acme/limited","maxBuilds":25},{"fullName":"acme/botty","excludeBots":true},"#
                        + #"{"fullName":"acme/recent","sinceDays":\#(sinceDays)}]}"#)
                #expect(answer.status == 202)
                let created = try #require(try JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]])
                let ids = created.compactMap { $0["id"] as? Int }
                try #require(ids.count == 3)
                try await waitUntil("both imports are fetched", timeout: .seconds(120)) {
                    var fetched = true
                    for id in ids { fetched = try await config(cluster, id).progress?.status == .fetched && fetched }
                    return fetched
                }
                let stored = Set(try await storedRunIDs(database))

                let limited = try #require(api.world.repository("acme/limited")).runs
                let limitedAdmitted = limited.filter { admitted(limited).contains($0.id) }
                let keptLimited = limitedAdmitted.filter { stored.contains($0.id) }
                #expect(keptLimited.count == 25)
                // The kept ones are the newest: none left out is newer than one kept.
                let oldestKept = try #require(keptLimited.map(\.created_at).min())
                #expect(limitedAdmitted.filter { !stored.contains($0.id) }.allSatisfy { $0.created_at <= oldestKept })

                let botty = try #require(api.world.repository("acme/botty")).runs
                let bots = Set(botty.filter { $0.actor.type == "Bot" || $0.actor.login.hasSuffix("[bot]") }.map(\.id))
                #expect(!bots.intersection(admitted(botty)).isEmpty, "the sandbox's bot triggered some runs")
                #expect(stored.intersection(Set(botty.map(\.id))) == admitted(botty).subtracting(bots))

                // The import computes its cutoff a little after this test did: runs within two
                // minutes of it could go either way and are left out of the comparison.
                let recentAdmitted = admitted(recent)
                let newer = Set(recentCreated.filter { recentAdmitted.contains($0.run.id) && $0.at > cutoff.addingTimeInterval(120) }.map(\.run.id))
                let older = Set(recentCreated.filter { recentAdmitted.contains($0.run.id) && $0.at < cutoff.addingTimeInterval(-120) }.map(\.run.id))
                #expect(!newer.isEmpty && !older.isEmpty, "the window ends inside the runs: \(newer.count) newer, \(older.count) older")
                #expect(newer.isSubset(of: stored))
                #expect(older.isDisjoint(with: stored))
            }
        }
    }

    @Test func aRenamedRepositoryImportsByItsOldNameAndCSVRowsWithTheOldNameValidate() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withSandbox([("acme/old-name", 30)]) { api, baseURL in
            // GitHub answers the old name with 301 to /repositories/{id}.
            try api.world.rename("acme/old-name", to: "newco/new-name")
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([try makeRuntime(.gateway, in: cluster), validator]) {
                let answer = try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/old-name","onlyWithLogs":true}]}"#)
                #expect(answer.status == 202)
                let created = try JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]]
                let id = try #require(created?.first?["id"] as? Int)
                try await waitUntil("the import is fetched", timeout: .seconds(120)) {
                    try await config(cluster, id).progress?.status == .fetched
                }
                #expect(try await config(cluster, id).repository?.fullName == "newco/new-name")
                let runs = try #require(api.world.repository("newco/new-name")).runs
                #expect(!admitted(runs).isEmpty)
                #expect(Set(try await storedRunIDs(database)) == admitted(runs))
                let names = try await withClient(database.url(forSchema: "source_validator")) { client in
                    try await client.query("SELECT full_name FROM source_validator.raw_repositories", logger: TestEnvironment.logger).collect().map { try $0.decode(String.self) }
                }
                #expect(names == ["newco/new-name"])

                // A build source naming the repository by its old name finds its runs.
                let run = try #require(runs.first { admitted([$0]).count == 1 })
                let upload = try await BuildSourceTests().upload(cluster, "repo_name,build_id\nacme/old-name,\(run.id)\nacme/old-name,999999999\n")
                #expect(upload.status == 201, "\(upload.text)")
                let source = try JSONDecoder().decode(BuildSourceStatus.self, from: upload.body)
                try await waitUntil("validation finished") {
                    let status = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/build-sources/\(source.sourceId)", token: TestEnvironment.adminToken)
                    return try JSONDecoder().decode(BuildSourceStatus.self, from: status.body).status == "validated"
                }
                let status = try JSONDecoder().decode(BuildSourceStatus.self, from: try await http(
                    TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/build-sources/\(source.sourceId)", token: TestEnvironment.adminToken).body)
                #expect(status.counts.found == 1 && status.counts.notFound == 1, "\(status.counts)")
            }
        }
    }

    /// A repository deleted while its import runs: the import stops, and nothing it fetched
    /// afterwards reaches the warehouse (it used to re-create the repository and its runs).
    @Test func aRepositoryDeletedWhileItsImportRunsStaysDeleted() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withSandbox([("acme/big", 2500)]) { api, baseURL in
            var faults = SandboxFaults()
            faults.slowRate = 1
            faults.slowMilliseconds = 150
            api.setFaults(faults)
            let gateway = try makeRuntime(.gateway, in: cluster)
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([gateway, validator]) {
                let answer = try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/big"}]}"#)
                let id = try #require(try HTTPHelpers.decoder.decode([RepositoryConfig].self, from: answer.body).first?.id)
                try await waitUntil("the import stored some runs", timeout: .seconds(120)) { try await storedRunIDs(database).count > 0 }
                #expect(try await http(TestEnvironment.httpClient, .DELETE, cluster.publicURL + "/api/v1/repos/\(id)", token: TestEnvironment.adminToken).status == 202)
                let queue = validator.environment.queue
                try await waitUntil("the import job ended", timeout: .seconds(120)) {
                    let queued = try await queue.list(state: .queued, limit: 100)
                    let running = try await queue.list(state: .running, limit: 100)
                    return (queued + running).allSatisfy { $0.kind != SourceValidatorService.importJob.name }
                }
                try await waitUntil("the warehouse forgot the repository") { try await storedRunIDs(database).isEmpty }
                // Let anything still in flight land, then look again.
                try await Task.sleep(for: .seconds(2))
                #expect(try await storedRunIDs(database).isEmpty)
                let repositories = try await withClient(database.url(forSchema: "source_validator")) { client in
                    try await client.query("SELECT count(*)::int8 FROM source_validator.raw_repositories", logger: TestEnvironment.logger).collect().first?.decode(Int64.self)
                }
                #expect(repositories == 0)
                #expect(try await queue.list(state: .dead, limit: 100).filter { $0.kind == SourceValidatorService.importJob.name }.isEmpty)
            }
        }
    }

    @Test func usersSeeOnlyTheirRepositoriesAndBadRequestsWriteNothing() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withSandbox([("acme/cli", 40)]) { _, baseURL in
            let gateway = try makeRuntime(.gateway, in: cluster)
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([gateway, validator]) {
                let client = TestEnvironment.httpClient
                let api = cluster.publicURL + "/api/v1"
                func newUser(_ name: String) async throws -> String {
                    let created = try await http(client, .POST, api + "/users", token: TestEnvironment.adminToken, body: Data(#"{"username":"\#(name)"}"#.utf8))
                    return try #require(try created.json()["token"] as? String)
                }
                let ada = try await newUser("ada")
                let bob = try await newUser("bob")

                // A bad member refuses the whole request, with its index; nothing is written.
                let bad = try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/cli"},{"fullName":"not-a-repo"}]}"#, token: ada)
                #expect(bad.status == 400)
                #expect(bad.text.contains("repositories[1]"))
                #expect(try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/cli","ciProvider":"travis"}]}"#, token: ada).status == 400)
                #expect(try await importRepositories(cluster, #"{"repositories":[]}"#, token: ada).status == 400)
                #expect(try await importRepositories(cluster, #"{"repos":1}"#, token: ada).status == 400)
                let list = try await http(client, .GET, api + "/repos", token: ada)
                #expect(try HTTPHelpers.decoder.decode([RepositoryConfig].self, from: list.body).isEmpty)

                let created = try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/cli"},{"fullName":"acme/missing"}]}"#, token: ada)
                #expect(created.status == 202)
                let configs = try HTTPHelpers.decoder.decode([RepositoryConfig].self, from: created.body)
                let cli = Int(try #require(configs.first { $0.fullName == "acme/cli" }?.id))
                let missing = Int(try #require(configs.first { $0.fullName == "acme/missing" }?.id))
                #expect(try await importRepositories(cluster, #"{"repositories":[{"fullName":"ACME/cli"}]}"#, token: ada).status == 409)

                try await waitUntil("both imports ended") {
                    let a = try await config(cluster, cli, token: ada).status
                    let b = try await config(cluster, missing, token: ada).status
                    return a == .fetched && b == .failed
                }
                #expect(try await config(cluster, missing, token: ada).message?.contains("404") == true)

                // Bob sees none of Ada's repositories; the admin sees all.
                #expect(try await http(client, .GET, api + "/repos/\(cli)", token: bob).status == 404)
                #expect(try await http(client, .GET, api + "/repos/\(cli)/builds", token: bob).status == 404)
                #expect(try await http(client, .POST, api + "/repos/\(cli)/sync-run", token: bob).status == 404)
                #expect(try HTTPHelpers.decoder.decode([RepositoryConfig].self, from: try await http(client, .GET, api + "/repos", token: bob).body).isEmpty)
                #expect(try HTTPHelpers.decoder.decode([RepositoryConfig].self, from: try await http(client, .GET, api + "/repos", token: TestEnvironment.adminToken).body).count == 2)
                let found = try await http(client, .GET, api + "/repos/search?q=cli", token: ada)
                #expect(try HTTPHelpers.decoder.decode([RepositoryConfig].self, from: found.body).map(\.fullName) == ["acme/cli"])

                // Deleting cascades: the config goes at once, the warehouse rows through the outbox.
                #expect(try await storedRunIDs(database).isEmpty == false)
                #expect(try await http(client, .DELETE, api + "/repos/\(cli)", token: bob).status == 404)
                #expect(try await http(client, .DELETE, api + "/repos/\(cli)", token: ada).status == 202)
                #expect(try await http(client, .GET, api + "/repos/\(cli)", token: ada).status == 404)
                try await waitUntil("the warehouse forgot the repository") { try await storedRunIDs(database).isEmpty }
                #expect(try await http(client, .DELETE, api + "/repos/\(cli)", token: ada).status == 404)
            }
        }
    }

    @Test func importProgressIsPushedToTheOwnerOverTheEventsWebSocket() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await withSandbox([("acme/events", 60)]) { _, baseURL in
            let gateway = try makeRuntime(.gateway, in: cluster)
            let validator = try makeRuntime(.sourceValidator, in: cluster, definition: definition(of: .sourceValidator, githubURL: baseURL))
            try await withServices([gateway, validator]) {
                // Without a token, or with one that is no user's, the upgrade is refused (the
                // same URL with a user's token upgrades below).
                let url = "ws://127.0.0.1:\(cluster.publicPort)/api/v1/events"
                let anonymous = await #expect(throws: WebSocketClientError.self) {
                    try await WebSocketClient.connect(url: url, logger: TestEnvironment.logger) { _, _, _ in }
                }
                #expect(anonymous == .webSocketUpgradeFailed)
                let unknown = await #expect(throws: WebSocketClientError.self) {
                    try await WebSocketClient.connect(url: url + "?token=not-a-token", logger: TestEnvironment.logger) { _, _, _ in }
                }
                #expect(unknown == .webSocketUpgradeFailed)
                // On the wire: 400, the answer Hummingbird 2 gives every refused upgrade
                // (WebSocketChannel.writeFailedUpgrade; the route's 401 does not reach the client),
                // where a user's token gets 101 below.
                for path in ["/api/v1/events", "/api/v1/events?token=not-a-token"] {
                    let status = try await webSocketUpgradeStatus(port: cluster.publicPort, path: path)
                    #expect(status == 400, "\(path): \(status)")
                }
                func newUser(_ name: String) async throws -> String {
                    let created = try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/users", token: TestEnvironment.adminToken, body: Data(#"{"username":"\#(name)"}"#.utf8))
                    return try #require(try created.json()["token"] as? String)
                }
                let owner = try await newUser("olive")
                let stranger = try await newUser("stan")
                #expect(try await webSocketUpgradeStatus(port: cluster.publicPort, path: "/api/v1/events?token=\(owner)") == 101)
                let listener = try await EventListener.open(cluster, token: owner)
                defer { listener.close() }
                let other = try await EventListener.open(cluster, token: stranger)
                defer { other.close() }
                let answer = try await importRepositories(cluster, #"{"repositories":[{"fullName":"acme/events"}]}"#, token: owner)
                #expect(answer.status == 202)
                try await waitUntil("the fetched REPO_UPDATE") { listener.received.value.contains { $0.repoUpdate?.status == "fetched" } }
                let events = listener.received.value
                let fetched = try #require(events.firstIndex { $0.repoUpdate?.status == "fetched" })
                #expect(events[...fetched].allSatisfy { $0.type == "REPO_UPDATE" })
                #expect(events.first?.repoUpdate?.status == "fetching")
                // The events went over the same hub to every socket at once: the other user's got none of them.
                #expect(other.received.value.isEmpty, "\(other.received.value.map(\.type))")
                #expect((events[fetched].repoUpdate?.counts["imported"] ?? 0) > 0)
            }
        }
    }
}
