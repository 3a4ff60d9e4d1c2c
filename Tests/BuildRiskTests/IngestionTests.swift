import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import GatewayCore
import GitHubSandboxCore
import Hummingbird
import HummingbirdWSClient
import IngestorCore
import PostgresNIO
import Synchronization
import Testing

/// How many callers are inside a section at once, and the most there ever were.
final class Overlap: Sendable {
    private let state = Mutex((now: 0, most: 0))
    func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var most: Int { state.withLock { $0.most } }
}

/// Ingestion against sandbox repositories: clones, fork commits, logs, per-resource status.
@Suite(.timeLimit(.minutes(18)), .dropsTestDatabases)
struct IngestionTests {
    let imports = WarehouseImportTests()

    func setFaults(_ baseURL: String, _ faults: SandboxFaults) async throws {
        let body = try JSONEncoder().encode(faults)
        #expect(try await http(TestEnvironment.httpClient, .POST, baseURL + "/_sandbox/faults", body: body).status == 200)
    }

    /// Every ingestion record of a repository, following the pages.
    func importBuilds(_ cluster: TestCluster, _ id: Int) async throws -> (counts: IngestionCounts, builds: [IngestionBuildRecord]) {
        var builds: [IngestionBuildRecord] = []
        var before: Int64?
        var counts = IngestionCounts()
        repeat {
            let answer = try await http(
                TestEnvironment.httpClient, .GET,
                cluster.publicURL + "/api/v1/repos/\(id)/import-builds?limit=200" + (before.map { "&before=\($0)" } ?? ""), token: TestEnvironment.adminToken)
            #expect(answer.status == 200, "\(answer.text)")
            let page = try JSONDecoder().decode(IngestionBuildPage.self, from: answer.body)
            counts = page.counts
            builds += page.builds
            before = page.builds.last?.runId
            if page.builds.count < 200 { break }
        } while true
        return (counts, builds)
    }

    func waitForIngestion(_ cluster: TestCluster, _ id: Int, after sequence: Int = 0) async throws -> RepositoryConfig {
        try await waitUntil("the repository is ingested", timeout: .seconds(300)) {
            let config = try await imports.config(cluster, id)
            return [.ingested, .partial, .failed].contains(config.status) && (config.ingestion?.sequence ?? 0) > sequence
                && config.ingestion?.counts.pending == 0
        }
        return try await imports.config(cluster, id)
    }

    /// Two replicas (two connection pools to one database, one data directory) asked to update
    /// one repository at the same moment, three times each: the clone and fetches run one at a
    /// time, exactly one of them clones, and no partial clone is left behind.
    @Test func replicasNeverCloneOrFetchOneRepositoryAtOnce() async throws {
        let database = try await TestDatabase.create()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("replicas-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let world = SandboxWorld(directory: directory + "/world", seed: 11)
        try await offThePool { try world.addRepository(owner: "acme", name: "shared", commits: 400) }
        let remote = try #require(world.repository("acme/shared"))
        let inside = Overlap()
        let outcomes = try await withClient(database.admin) { first in
            try await withClient(database.admin) { second in
                try await withThrowingTaskGroup(of: RepositoryClones.Outcome.self) { group in
                    for round in 0..<6 {
                        let replica = RepositoryClones(
                            postgres: round % 2 == 0 ? first : second, dataDirectory: directory + "/data", logger: TestEnvironment.logger)
                        group.addTask {
                            try await replica.withLock(githubId: remote.id) {
                                inside.enter()
                                defer { inside.leave() }
                                return try await replica.update(githubId: remote.id, url: "file://\(remote.gitPath)", token: nil, pullRefs: false)
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
        }
        #expect(inside.most == 1, "two updates of one repository ran at once")
        #expect(outcomes.filter { $0 == .cloned }.count == 1)
        #expect(outcomes.filter { $0 == .fetched }.count == 5)
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory + "/data/repos")
        #expect(entries == ["\(remote.id).git"])
        let clonePath = directory + "/data/repos/\(remote.id).git"
        #expect(try gitLine(["--git-dir", clonePath, "rev-parse", "refs/heads/main"])
            == (try gitLine(["--git-dir", remote.gitPath, "rev-parse", "refs/heads/main"])))

        // New commits and pull requests: one fetch brings the branches and the pull heads.
        try await offThePool { try world.addActivity(fullName: "acme/shared", commits: 60) }
        let outcome = try await withClient(database.admin) { client in
            let replica = RepositoryClones(postgres: client, dataDirectory: directory + "/data", logger: TestEnvironment.logger)
            return try await replica.withLock(githubId: remote.id) {
                try await replica.update(githubId: remote.id, url: "file://\(remote.gitPath)", token: nil, pullRefs: true)
            }
        }
        #expect(outcome == .fetched)
        let refs = { (gitDirectory: String) in try gitLine(["--git-dir", gitDirectory, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/pull"]) }
        let remoteRefs = try refs(remote.gitPath)
        #expect(remoteRefs.contains("refs/pull/"))
        let cloneRefs = try refs(clonePath)
        #expect(cloneRefs == remoteRefs, "only in the remote: \(Set(remoteRefs.split(separator: "\n")).subtracting(cloneRefs.split(separator: "\n")).sorted().prefix(5)); only in the clone: \(Set(cloneRefs.split(separator: "\n")).subtracting(remoteRefs.split(separator: "\n")).sorted().prefix(5))")
    }

    @Test func aRepositoryIngestsWithEveryBuildInAStatedFinalStatus() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/shop", 300)]) { api, baseURL in
            // Most log downloads break off mid-body: a build whose three tries all break fails, and
            // a reingest completes it.
            var faults = SandboxFaults()
            faults.truncatedZipRate = 0.8
            // The generated history spans about two weeks: a 7-day retention expires the older half's logs.
            faults.logRetentionDays = 7
            try await setFaults(baseURL, faults)
            // Every line the three services log, at every level, for the secrets check at the end.
            let logs = LogCapture()
            let runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor].map {
                try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL), logger: logs.logger("buildrisk.\($0.rawValue)"))
            }
            try await withServices(runtimes) {
                // The events socket reports builds as they settle, then the repository's final status.
                // Progress reports reach the gateway through the outbox, several at a time, so the
                // final REPO_UPDATE can come before an earlier report's BUILD_UPDATE: listen on
                // until every build has been announced, not just until the final status.
                let listener = try await EventListener.open(cluster, token: TestEnvironment.adminToken)
                defer { listener.close() }
                let received = listener.received
                let created = try await imports.importRepositories(cluster, #"{"repositories":[{"fullName":"acme/shop"}]}"#)
                #expect(created.status == 202)
                let id = try #require(try JSONDecoder().decode([IDOnly].self, from: created.body).first?.id)
                try await waitUntil("the final REPO_UPDATE", timeout: .seconds(240)) {
                    received.value.contains { ["ingested", "partial", "failed"].contains($0.repoUpdate?.status ?? "") && $0.repoUpdate?.counts["pending"] == 0 }
                }
                let first = try await waitForIngestion(cluster, id)
                let repository = try #require(api.world.repository("acme/shop"))
                let admitted = imports.admitted(repository.runs)
                var (counts, builds) = try await importBuilds(cluster, id)
                // Every admitted run has exactly one record, and every record a final status with a reason when not ingested.
                #expect(Set(builds.map(\.runId)) == admitted)
                #expect(builds.count == admitted.count)
                #expect(counts.total == admitted.count && counts.pending == 0)
                for build in builds {
                    #expect(build.status != .pending)
                    #expect(build.resources.allSatisfy { $0.status != .pending && $0.status != .inProgress })
                    if build.status != .ingested { #expect(build.reason != nil) }
                    if build.status == .ingested { #expect(build.effectiveSha != nil) }
                }
                #expect(counts.failed > 0, "the truncated zips failed some builds")
                // Every build was announced once, with the status REST shows.
                let expectedAnnouncements = builds.count
                try await waitUntil("every build was announced", timeout: .seconds(60)) {
                    received.value.compactMap(\.buildUpdate).flatMap(\.builds).count >= expectedAnnouncements
                }
                let announced = received.value.compactMap(\.buildUpdate).flatMap(\.builds)
                #expect(announced.count == builds.count)
                #expect(Dictionary(announced.map { ($0.runId, $0.status) }) { a, _ in a } == Dictionary(builds.map { ($0.runId, $0.status) }) { a, _ in a })
                #expect(received.value.contains { $0.repoUpdate?.status == "ingesting" })
                #expect(builds.filter { $0.status == .failed }.allSatisfy { $0.reason?.hasPrefix("build_logs") == true })
                // Expired logs are missing, not failed.
                #expect(counts.missingResource > 0)
                for build in builds where build.status == .missingResource {
                    #expect(build.reason?.contains("410") == true, "\(build.reason ?? "")")
                }

                // Retry without faults: the failed builds complete, missing ones are left alone.
                var calm = SandboxFaults()
                calm.logRetentionDays = 7
                try await setFaults(baseURL, calm)
                let missingBefore = counts.missingResource
                let retry = try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/\(id)/reingest-failed", token: TestEnvironment.adminToken)
                #expect(retry.status == 202, "\(retry.text)")
                let accepted = try JSONDecoder().decode(IngestionAccepted.self, from: retry.body)
                #expect(accepted.queued == counts.failed)
                // Reports of the first run's jobs may still arrive: only those after the retry's count.
                let retrySequence = try #require(accepted.sequence)
                #expect(retrySequence > first.ingestion?.sequence ?? 0)
                _ = try await waitForIngestion(cluster, id, after: retrySequence)
                (counts, builds) = try await importBuilds(cluster, id)
                #expect(counts.failed == 0)
                #expect(counts.missingResource == missingBefore)
                #expect(counts.ingested + counts.missingResource == admitted.count)
                #expect(builds.filter { $0.attempts > 1 }.allSatisfy { $0.status == .ingested })
                // Fork pull requests got their commit through the pull ref (at least one was ingested).
                let forkRuns = Set(repository.runs.filter { $0.head_repository?.full_name != nil && $0.head_repository?.full_name != repository.fullName }.map(\.id))
                let forkBuilds = builds.filter { forkRuns.contains($0.runId) && $0.status == .ingested }
                #expect(!forkBuilds.isEmpty, "no fork build was ingested")
                for build in forkBuilds {
                    #expect(build.commitSource == "pull_ref")
                    #expect(build.effectiveSha == build.headSha)
                }

                // Parsed logs are stored for the ingested builds.
                let parsed = try await withClient(database.url(forSchema: "ingestor")) { client in
                    try await client.query("SELECT count(*)::int8 FROM ingestor.run_logs", logger: TestEnvironment.logger).collect().first?.decode(Int64.self) ?? 0
                }
                #expect(Int(parsed) == builds.filter { $0.resources.contains { $0.resource == .buildLogs && $0.status == .completed } }.count)

                // Another user cannot see the records; a bad status filter is refused.
                let mallory = try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/users", token: TestEnvironment.adminToken, body: Data(#"{"username":"mallory"}"#.utf8))
                let other = try #require(try mallory.json()["token"] as? String)
                let hidden = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)/import-builds", token: other)
                #expect(hidden.status == 404, "\(hidden.text)")
                #expect(!hidden.text.contains("\(builds.first?.runId ?? -1)"))
                #expect(try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)/import-builds?status=nope", token: TestEnvironment.adminToken).status == 400)

                // No secret reaches a service's log at any level: the GitHub tokens (bare, and as
                // the clone's Basic header), the secret behind service tokens, the service tokens
                // and database passwords derived from it, the users' API tokens (the events socket
                // carries one in its URL).
                logs.expectNoSecrets(from: [.gateway, .sourceValidator, .ingestor], extra: [other])
            }
        }
    }

    /// A private repository imported and ingested through the services, cloned over https from the
    /// sandbox's git host (`clone_url` https://…/acme/vault.git, the host's certificate checked
    /// against the CA the ingestor is given as GIT_SSL_CA_FILE) with the ingestor's token as
    /// `x-access-token`'s password. While that token has no access to the repository the clone is
    /// refused: every build ends failed with the reason, and the token is in none. Once it is
    /// granted, reingest-failed clones over https and ingests them all.
    @Test func aPrivateRepositoryClonesOverHTTPSWithTheIngestorsTokenAndFailsWithTheReasonWithoutIt() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/vault", 40)], privateRepositories: ["acme/vault"], gitOverHTTPS: true) { api, baseURL in
            let repository = try #require(api.world.repository("acme/vault"))
            let token = "ghs_\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
            // The ingestor as its executable reads its settings: GitHub, its token and the CA from the environment.
            let ingestorRuntime = try makeRuntime(.ingestor, in: cluster, definition: IngestorService.definition, overrides: [
                "GITHUB_API_URL": baseURL, "GITHUB_TOKENS": token, "GITHUB_SECONDARY_WAIT_SECONDS": "1",
                "GIT_SSL_CA_FILE": TestEnvironment.tls.caCertificatePath,
            ])
            let runtimes = try [ServiceName.gateway, .sourceValidator].map { try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL)) }
            try await withServices(runtimes + [ingestorRuntime]) {
                let created = try await imports.importRepositories(cluster, #"{"repositories":[{"fullName":"acme/vault"}]}"#)
                #expect(created.status == 202, "\(created.text)")
                let id = try #require(try JSONDecoder().decode([IDOnly].self, from: created.body).first?.id)
                let first = try await waitForIngestion(cluster, id)
                var (counts, builds) = try await importBuilds(cluster, id)
                let admitted = imports.admitted(repository.runs)
                #expect(Set(builds.map(\.runId)) == admitted)
                #expect(!admitted.isEmpty)
                // Refused: every build failed, its reason the clone's, the token in none.
                #expect(counts.failed == admitted.count, "\(counts)")
                for build in builds {
                    #expect(build.status == .failed)
                    let reason = build.reason ?? ""
                    #expect(reason.contains("git_history") && reason.contains("the remote refused the token"), "\(reason)")
                    #expect(!reason.contains(token))
                }
                let refused = api.currentStats
                #expect(refused.gitRefused > 0)
                #expect(refused.gitRequests == 0)

                // Granted: the reingest clones over https and every build is ingested from the clone.
                api.grantCloneAccess(token)
                let retry = try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/\(id)/reingest-failed", token: TestEnvironment.adminToken)
                #expect(retry.status == 202, "\(retry.text)")
                let accepted = try JSONDecoder().decode(IngestionAccepted.self, from: retry.body)
                #expect(accepted.queued == admitted.count)
                _ = try await waitForIngestion(cluster, id, after: try #require(accepted.sequence))
                (counts, builds) = try await importBuilds(cluster, id)
                #expect(counts.ingested == admitted.count, "\(counts); e.g. \(builds.first { $0.status != .ingested }?.reason ?? "")")
                #expect(api.currentStats.gitRequests > 0, "the clone did not go through the git host")
                let clonePath = cluster.dataDirectory + "/repos/\(repository.id).git"
                #expect(try gitLine(["--git-dir", clonePath, "rev-parse", "refs/heads/main"])
                    == (try gitLine(["--git-dir", repository.gitPath, "rev-parse", "refs/heads/main"])))
                // The clone's remote is the https URL GitHub gave, without the token.
                let config = try String(contentsOfFile: clonePath + "/config", encoding: .utf8)
                #expect(config.contains("url = https://127.0.0.1:"), "\(config)")
                #expect(!config.contains(token))

                // Deleting the repository cascades to the ingestor: its records and the clone go.
                let client = ingestor(cluster)
                #expect(try await records(client, String(id)).counts.total == admitted.count)
                let deleted = try await http(TestEnvironment.httpClient, .DELETE, cluster.publicURL + "/api/v1/repos/\(id)", token: TestEnvironment.adminToken)
                #expect(deleted.status == 202, "\(deleted.text)")
                try await waitUntil("the ingestor forgot the repository", timeout: .seconds(60)) {
                    try await records(client, String(id)).counts.total == 0 && !FileManager.default.fileExists(atPath: clonePath)
                }
            }
        }
    }

    struct IDOnly: Decodable { var id: Int }

    /// An ingestor client for direct calls (the way every pipeline calls it).
    func ingestor(_ cluster: TestCluster) -> RPCClient {
        RPCClient(httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(.ingestor), token: TestEnvironment.tokens.token(for: .gateway))
    }

    func records(_ client: RPCClient, _ pipelineId: String) async throws -> IngestionBuildPage {
        try await client.call(IngestionMethods.builds, IngestionBuildsParams(pipelineId: pipelineId, limit: 1000))
    }

    /// Every build of `page` (`count` of them) ended with its logs failed after three tries, for `reason`.
    func expectLogsFailedThreeTimes(_ page: IngestionBuildPage, count: Int, saying reason: String) throws {
        #expect(page.counts.failed == count)
        for build in page.builds {
            let logs = try #require(build.resources.first { $0.resource == .buildLogs })
            #expect(logs.status == .failed)
            #expect(logs.error?.contains(reason) == true, "\(logs.error ?? "")")
            #expect(logs.error?.contains("tried 3 times") == true, "\(logs.error ?? "")")
        }
    }

    func request(_ repository: SandboxRepository, pipelineId: String, resources: [IngestionResource], runs: [SandboxRun]) -> IngestionRequest {
        IngestionRequest(
            pipelineId: pipelineId, fullName: repository.fullName, githubId: repository.id, resources: resources,
            builds: runs.map { IngestionBuild(runId: $0.id, headSha: $0.head_sha, event: $0.event, createdAt: $0.created_at) })
    }

    @Test func aForkCommitIsReplayedFromItsPatchWhenThePullRefIsWithheld() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/forked", 200)]) { api, baseURL in
            var faults = SandboxFaults()
            faults.withholdPullRefs = true
            try await setFaults(baseURL, faults)
            let runtime = try makeRuntime(.ingestor, in: cluster, definition: definition(of: .ingestor, githubURL: baseURL))
            try await withServices([runtime]) {
                let repository = try #require(api.world.repository("acme/forked"))
                let forkRuns = repository.runs.filter { $0.status == "completed" && $0.head_repository.map { $0.full_name != repository.fullName } == true }
                try #require(!forkRuns.isEmpty)
                let client = ingestor(cluster)
                let accepted = try await client.call(IngestionMethods.start, request(repository, pipelineId: "fork-1", resources: [.gitHistory], runs: forkRuns))
                #expect(accepted.queued == forkRuns.count)
                try await waitUntil("the fork builds are settled", timeout: .seconds(120)) {
                    try await records(client, "fork-1").counts.pending == 0
                }
                let page = try await records(client, "fork-1")
                #expect(page.counts.ingested == forkRuns.count)
                let clone = cluster.dataDirectory + "/repos/\(repository.id).git"
                for build in page.builds {
                    #expect(build.commitSource == "patch")
                    let effective = try #require(build.effectiveSha)
                    // The synthetic commit has the fork commit's tree (a withheld pull ref leaves the
                    // commit's objects in the sandbox's repository, where git can still read them).
                    let forkTree = try gitLine(["--git-dir", repository.gitPath, "rev-parse", "\(build.headSha)^{tree}"])
                    #expect(try gitLine(["--git-dir", clone, "rev-parse", "\(effective)^{tree}"]) == forkTree)
                }

                // A commit GitHub does not know either is missing, with the reason, and is not retried.
                var unknown = forkRuns[0]
                unknown.id = 1
                unknown.head_sha = String(repeating: "ab", count: 20)
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "fork-2", resources: [.gitHistory], runs: [unknown]))
                try await waitUntil("the unknown commit is settled") { try await records(client, "fork-2").counts.pending == 0 }
                let missing = try #require(try await records(client, "fork-2").builds.first)
                #expect(missing.status == .missingResource)
                #expect(missing.resources.first { $0.resource == .gitHistory }?.status == .missing)
                #expect(try await client.call(IngestionMethods.retryFailed, IngestionPipelineParams(pipelineId: "fork-2")).queued == 0)

                // Forgetting: the clone stays while another pipeline holds the repository, then goes.
                #expect(try await client.call(IngestionMethods.forget, IngestionPipelineParams(pipelineId: "fork-1")).buildsDeleted == forkRuns.count)
                #expect(FileManager.default.fileExists(atPath: clone))
                _ = try await client.call(IngestionMethods.forget, IngestionPipelineParams(pipelineId: "fork-2"))
                #expect(!FileManager.default.fileExists(atPath: clone))
                #expect(try await records(client, "fork-1").counts.total == 0)

                // Bad requests are refused and write nothing.
                let refused = await #expect(throws: RPCClientError.self) {
                    try await client.call(IngestionMethods.start, IngestionRequest(pipelineId: "bad", fullName: "acme/forked", githubId: repository.id, resources: [.gitHistory],
                        builds: [IngestionBuild(runId: 5, headSha: "nope", event: "push", createdAt: "")]))
                }
                if case .remote(let error)? = refused {
                    #expect(error.kind == .invalidInput)
                    #expect(error.data?.reason?.contains("run 5: headSha 'nope' is not a 40-digit commit id") == true, "\(error)")
                } else {
                    Issue.record("not a refusal: \(String(describing: refused))")
                }
                #expect(try await records(client, "bad").counts.total == 0)
            }
        }
    }

    /// README: the worktree budget bounds the disk worktrees take; a worktree that does not fit
    /// fails its builds (retryable), and once the worktrees in the way are released a retry makes it.
    /// Released worktrees stay as a cache and go least recently used first when room is needed.
    @Test func aWorktreeBeyondTheDiskBudgetFailsItsBuildsUntilRoomIsReleased() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/tight", 40)]) { api, baseURL in
            let repository = try #require(api.world.repository("acme/tight"))
            var seen = Set<String>()
            let pushes = repository.runs.filter { $0.status == "completed" && $0.event == "push" && seen.insert($0.head_sha).inserted }
            try #require(pushes.count >= 3)
            let (first, second, third) = (pushes[0], pushes[1], pushes[2])
            /// Runs an ingestor with this budget around `body`. The body's own HTTP client is
            /// closed before the ingestor stops, so no call of the next run rides a connection
            /// to this one.
            @Sendable func withIngestor<T: Sendable>(budget: Int64, _ body: @Sendable (RPCClient) async throws -> T) async throws -> T {
                let github = GitHubConfiguration(baseURL: baseURL, tokens: [TestEnvironment.githubTokens[2]], secondaryRateLimitWait: .seconds(1))
                let runtime = try makeRuntime(.ingestor, in: cluster, definition: IngestorService.definition(github: github, configuration: IngestorConfiguration(worktreeBudgetBytes: budget)))
                return try await withServices([runtime]) {
                    try await withTestHTTPClient { httpClient in
                        try await body(RPCClient(httpClient: httpClient, baseURL: cluster.internalURL(.ingestor), token: TestEnvironment.tokens.token(for: .gateway)))
                    }
                }
            }
            @Sendable func settle(_ client: RPCClient, _ pipelineId: String) async throws -> IngestionBuildRecord {
                try await waitUntil("\(pipelineId) settled", timeout: .seconds(120)) { try await records(client, pipelineId).counts.pending == 0 }
                return try #require(try await records(client, pipelineId).builds.first)
            }
            @Sendable func worktree(_ record: IngestionBuildRecord) -> ResourceState? { record.resources.first { $0.resource == .gitWorktree } }
            let clone = cluster.dataDirectory + "/repos/\(repository.id).git"
            let worktrees = cluster.dataDirectory + "/worktrees/\(repository.id)"

            // Measured with room to spare: the first commit's worktree and the clone (the budget's estimate of a new one).
            let worktreeBytes = try await withIngestor(budget: 10 << 30) { client in
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "measure", resources: [.gitHistory, .gitWorktree], runs: [first]))
                #expect(worktree(try await settle(client, "measure"))?.status == .completed)
                let bytes = try await withClient(database.url(forSchema: "ingestor")) { client in
                    try await client.query("SELECT bytes FROM ingestor.worktrees WHERE sha = \(first.head_sha)", logger: TestEnvironment.logger).collect().first?.decode(Int64.self) ?? 0
                }
                _ = try await client.call(IngestionMethods.releaseWorktrees, IngestionPipelineParams(pipelineId: "measure"))
                return bytes
            }
            try #require(worktreeBytes > 0)
            // Released, it stays (a cache) and is reused below.
            #expect(try FileManager.default.contentsOfDirectory(atPath: worktrees) == [first.head_sha])

            // A new worktree is let in while the worktrees made so far plus its estimate (the
            // clone's size) fit: so the first fits, the second not while the first stays.
            let budget = RepositoryClones.diskUsage(clone) + worktreeBytes / 2
            try await withIngestor(budget: budget) { client in
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "holder", resources: [.gitHistory, .gitWorktree], runs: [first]))
                #expect(worktree(try await settle(client, "holder"))?.status == .completed)
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "squeezed", resources: [.gitHistory, .gitWorktree], runs: [second]))
                let squeezed = try await settle(client, "squeezed")
                #expect(squeezed.status == .failed, "retryable, not missing: \(squeezed.status)")
                #expect(worktree(squeezed)?.status == .failed)
                #expect(worktree(squeezed)?.error?.contains("worktree disk budget") == true, "\(String(describing: worktree(squeezed)?.error))")
                #expect(try FileManager.default.contentsOfDirectory(atPath: worktrees) == [first.head_sha])

                // Released, the first worktree makes room and a retry fits.
                _ = try await client.call(IngestionMethods.releaseWorktrees, IngestionPipelineParams(pipelineId: "holder"))
                #expect(try await client.call(IngestionMethods.retryFailed, IngestionPipelineParams(pipelineId: "squeezed")).queued == 1)
                try await waitUntil("the retried worktree is made", timeout: .seconds(120)) {
                    try await records(client, "squeezed").builds.first.flatMap(worktree)?.status == .completed
                }
                #expect(try FileManager.default.contentsOfDirectory(atPath: worktrees) == [second.head_sha])
                _ = try await client.call(IngestionMethods.releaseWorktrees, IngestionPipelineParams(pipelineId: "squeezed"))
            }

            // Room for two: a third evicts the least recently used of the two cached ones — the
            // first here, made after the second but the second was used again since (oldest-made
            // first would evict the second).
            let secondBytes = try await withClient(database.url(forSchema: "ingestor")) { client in
                try await client.query("SELECT bytes FROM ingestor.worktrees WHERE sha = \(second.head_sha)", logger: TestEnvironment.logger).collect().first?.decode(Int64.self) ?? 0
            }
            try #require(secondBytes > 0)
            try await withIngestor(budget: RepositoryClones.diskUsage(clone) + worktreeBytes + secondBytes / 2) { client in
                for (pipelineId, run) in [("lru-first", first), ("lru-second-again", second)] {
                    _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: pipelineId, resources: [.gitHistory, .gitWorktree], runs: [run]))
                    #expect(worktree(try await settle(client, pipelineId))?.status == .completed)
                    _ = try await client.call(IngestionMethods.releaseWorktrees, IngestionPipelineParams(pipelineId: pipelineId))
                }
                #expect(Set(try FileManager.default.contentsOfDirectory(atPath: worktrees)) == [first.head_sha, second.head_sha])
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "lru-third", resources: [.gitHistory, .gitWorktree], runs: [third]))
                #expect(worktree(try await settle(client, "lru-third"))?.status == .completed)
                #expect(Set(try FileManager.default.contentsOfDirectory(atPath: worktrees)) == [second.head_sha, third.head_sha])
            }
        }
    }

    @Test func killingTheIngestorMidRunAndStartingItAgainFinishesTheWorkCleanly() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/crashy", 200)]) { api, baseURL in
            // Slow log downloads keep the run going long enough to kill it in the middle.
            var faults = SandboxFaults()
            faults.slowRate = 0.5
            faults.slowMilliseconds = 150
            try await setFaults(baseURL, faults)
            let repository = try #require(api.world.repository("acme/crashy"))
            let runs = repository.runs.filter { $0.status == "completed" && !["skipped", "action_required", "stale"].contains($0.conclusion ?? "") }
            var environment = cluster.environment(for: .ingestor)
            environment["GITHUB_API_URL"] = baseURL
            environment["BUILDRISK_JOB_LEASE_SECONDS"] = "3"
            // The child's log goes beside the data directory (<data>-ingestor.log), for a failure's post-mortem.
            environment["BUILDRISK_LOG_LEVEL"] = "info"
            func start() async throws -> ChildProcess {
                let process = try ChildProcess(executable: "ingestor", environment: environment, logPath: cluster.dataDirectory + "-ingestor.log")
                try await waitUntil("the ingestor is ready", timeout: startupTimeout) {
                    (try? await http(TestEnvironment.httpClient, .GET, cluster.internalURL(.ingestor) + "/ready"))?.status == 200
                }
                return process
            }
            let client = ingestor(cluster)
            var process = try await start()
            _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "crash-1", resources: [.gitHistory, .gitWorktree, .buildLogs], runs: runs))
            // Polls that go unanswered (a loaded machine, the service busy) only mean "not yet".
            try await waitUntil("some builds are done", timeout: .seconds(120)) {
                guard let counts = try? await records(client, "crash-1").counts else { return false }
                return counts.total - counts.pending >= 5
            }
            #expect(try await records(client, "crash-1").counts.pending > 0, "killed mid-run")
            process.kill(SIGKILL)
            await process.waitForExit()
            try await setFaults(baseURL, SandboxFaults())
            process = try await start()
            defer { process.kill(SIGKILL) }
            try await waitUntil("every build is settled", timeout: .seconds(240)) {
                (try? await records(client, "crash-1"))?.counts.pending == 0
            }
            let page = try await records(client, "crash-1")
            #expect(page.counts.total == runs.count)
            #expect(page.builds.allSatisfy { build in build.resources.allSatisfy { $0.status != .inProgress && $0.status != .pending } })
            // One clone, no half-made one left behind.
            let repos = try FileManager.default.contentsOfDirectory(atPath: cluster.dataDirectory + "/repos")
            #expect(repos == ["\(repository.id).git"])
            // Exactly the worktrees the completed builds need, on disk and known to git; none orphaned.
            let needed = Set(page.builds.filter { $0.resources.contains { $0.resource == .gitWorktree && $0.status == .completed } }.compactMap(\.effectiveSha))
            #expect(!needed.isEmpty)
            let worktreeDirectory = cluster.dataDirectory + "/worktrees/\(repository.id)"
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: worktreeDirectory)) == needed)
            let clone = cluster.dataDirectory + "/repos/\(repository.id).git"
            let listed = try gitLine(["--git-dir", clone, "worktree", "list", "--porcelain"]).split(separator: "\n").filter { $0.hasPrefix("worktree ") }
            #expect(listed.count == needed.count + 1, "git knows every worktree (and the bare repository itself)")
            #expect(try gitLine(["--git-dir", clone, "branch", "--list", "buildrisk-worktree-*"]).isEmpty)

            // Released, the worktrees stay as a cache (evicted only when a new one needs the room).
            _ = try await client.call(IngestionMethods.releaseWorktrees, IngestionPipelineParams(pipelineId: "crash-1"))
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: worktreeDirectory)) == needed)
            process.kill(SIGTERM)
            await process.waitForExit()
        }
    }

    @Test func logDownloadsThatTimeOutFailAndAReingestCompletesThem() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/slowlogs", 40)]) { api, baseURL in
            // Every download stalls mid-body for three times as long as the ingestor waits for a
            // byte: three tries each break off, and the builds' logs fail.
            var faults = SandboxFaults()
            faults.slowLogMilliseconds = 6000
            try await setFaults(baseURL, faults)
            var configuration = IngestorConfiguration()
            configuration.logStallTimeout = .seconds(2)
            let definition = IngestorService.definition(
                github: GitHubConfiguration(baseURL: baseURL, tokens: ["sandbox-token-3"]), configuration: configuration)
            let runtime = try makeRuntime(.ingestor, in: cluster, definition: definition)
            try await withServices([runtime]) {
                let repository = try #require(api.world.repository("acme/slowlogs"))
                let runs = Array(repository.runs.filter { $0.status == "completed" && $0.conclusion != "skipped" }.prefix(6))
                let client = ingestor(cluster)
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "slow-1", resources: [.buildLogs], runs: runs))
                try await waitUntil("the downloads time out", timeout: .seconds(120)) { try await records(client, "slow-1").counts.pending == 0 }
                let timedOut = try await records(client, "slow-1")
                try expectLogsFailedThreeTimes(timedOut, count: runs.count, saying: "no byte received for 2.0 seconds")
                // Only logs were asked for: no clone was made.
                #expect(timedOut.builds.allSatisfy { $0.resources.first { $0.resource == .gitHistory }?.status == .skipped })
                #expect(!FileManager.default.fileExists(atPath: cluster.dataDirectory + "/repos"))
                #expect(api.currentStats.stalledLogs == runs.count * 3)

                try await setFaults(baseURL, SandboxFaults())
                #expect(try await client.call(IngestionMethods.retryFailed, IngestionPipelineParams(pipelineId: "slow-1")).queued == runs.count)
                try await waitUntil("the reingest completes", timeout: .seconds(120)) { try await records(client, "slow-1").counts.pending == 0 }
                let retried = try await records(client, "slow-1")
                #expect(retried.counts.ingested == runs.count, "\(retried.builds.compactMap { $0.resources.first { $0.resource == .buildLogs }?.error })")
                #expect(retried.builds.allSatisfy { $0.attempts == 2 })
            }
        }
    }

    /// A download that keeps receiving bytes but does not finish within `logTimeout` fails with
    /// that reason: a trickle never stalls, so only the whole download's deadline ends it.
    @Test func aLogDownloadThatOutlivesItsDeadlineFailsSayingSo() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/tricklelogs", 30)]) { api, baseURL in
            // Half the zip at once, the rest 1.5 s later: never silent for the 5 s stall bound,
            // always past the 1 s deadline.
            var faults = SandboxFaults()
            faults.slowLogMilliseconds = 1500
            try await setFaults(baseURL, faults)
            var configuration = IngestorConfiguration(logTimeout: .seconds(1))
            configuration.logStallTimeout = .seconds(5)
            let definition = IngestorService.definition(
                github: GitHubConfiguration(baseURL: baseURL, tokens: ["sandbox-token-7"]), configuration: configuration)
            let runtime = try makeRuntime(.ingestor, in: cluster, definition: definition)
            try await withServices([runtime]) {
                let repository = try #require(api.world.repository("acme/tricklelogs"))
                let runs = Array(repository.runs.filter { $0.status == "completed" && $0.conclusion != "skipped" }.prefix(2))
                try #require(runs.count == 2)
                let client = ingestor(cluster)
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "trickle-1", resources: [.buildLogs], runs: runs))
                try await waitUntil("the downloads outlive their deadline", timeout: .seconds(120)) { try await records(client, "trickle-1").counts.pending == 0 }
                try expectLogsFailedThreeTimes(try await records(client, "trickle-1"), count: runs.count, saying: "not finished within 1.0 seconds")
                #expect(api.currentStats.stalledLogs == runs.count * 3)
            }
        }
    }

    /// A 503 of the log store and a connection broken mid-body are tried again within the job,
    /// and the build ends ingested on its first job attempt; a run whose three tries all fail
    /// ends with its logs failed, saying so.
    @Test func aLogDownloadThatFailsIsTriedAgainAndTheBuildEndsIngested() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/flaky", 40)]) { api, baseURL in
            var faults = SandboxFaults()
            faults.logRetentionDays = 0
            faults.logFaultsPerRun = 2
            try await setFaults(baseURL, faults)
            let definition = IngestorService.definition(
                github: GitHubConfiguration(baseURL: baseURL, tokens: ["sandbox-token-4"]), configuration: IngestorConfiguration())
            let runtime = try makeRuntime(.ingestor, in: cluster, definition: definition)
            try await withServices([runtime]) {
                let repository = try #require(api.world.repository("acme/flaky"))
                let ran = repository.runs.filter { $0.status == "completed" && ["success", "failure", "cancelled"].contains($0.conclusion ?? "") }
                let runs = Array(ran.prefix(5))
                try #require(runs.count == 5 && ran.count >= 8)
                let client = ingestor(cluster)
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "flaky-1", resources: [.buildLogs], runs: runs))
                try await waitUntil("the logs are settled", timeout: .seconds(120)) { try await records(client, "flaky-1").counts.pending == 0 }
                let page = try await records(client, "flaky-1")
                #expect(page.counts.ingested == runs.count)
                #expect(page.builds.allSatisfy { $0.attempts == 1 })
                // Each run's first download was a 503 and its second broke off mid-body.
                #expect(api.currentStats.logErrors == runs.count)
                #expect(api.currentStats.truncatedZips == runs.count)

                // Three faults per run: the third try fails too.
                var worse = SandboxFaults()
                worse.logRetentionDays = 0
                worse.logFaultsPerRun = 3
                try await setFaults(baseURL, worse)
                let unlucky = Array(ran.dropFirst(5).prefix(3))
                _ = try await client.call(IngestionMethods.start, request(repository, pipelineId: "flaky-2", resources: [.buildLogs], runs: unlucky))
                try await waitUntil("the logs are settled", timeout: .seconds(120)) { try await records(client, "flaky-2").counts.pending == 0 }
                try expectLogsFailedThreeTimes(try await records(client, "flaky-2"), count: unlucky.count, saying: "answered 503")
            }
        }
    }
}
