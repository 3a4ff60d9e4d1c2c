import BuildRiskContracts
import BuildRiskRPC
import FeatureExtractorCore
import Foundation
import GatewayCore
import GitHubSandboxCore
import Testing

/// The model pipeline through feature extraction: a repository imported with `autoProcess`
/// ends `processed` with one vector per settled build, and a later sync extracts only the new
/// builds while every earlier vector stays exactly as it was.
@Suite(.timeLimit(.minutes(18)), .dropsTestDatabases)
struct ProcessingTests {
    let imports = WarehouseImportTests()
    let ingestion = IngestionTests()

    struct TrainingBuild: Decodable {
        var runId: Int64
        var extractionStatus: String
        var featureCount: Int
        var missingResources: [String]
        var error: String?
    }

    struct TrainingBuildPage: Decodable {
        var counts: ExtractionCounts
        var builds: [TrainingBuild]
    }

    struct BuildDetail: Decodable {
        var run: BuildRun?
        var features: FeatureVectorRecord?
    }

    func trainingBuilds(_ cluster: TestCluster, _ id: Int, token: String = TestEnvironment.adminToken) async throws -> TrainingBuildPage {
        let answer = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)/training-builds?limit=1000", token: token)
        #expect(answer.status == 200)
        return try JSONDecoder().decode(TrainingBuildPage.self, from: answer.body)
    }

    func features(_ cluster: TestCluster, _ id: Int, _ runId: Int64) async throws -> [String: FeatureValue] {
        let answer = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)/builds/\(runId)", token: TestEnvironment.adminToken)
        #expect(answer.status == 200)
        return try #require(try JSONDecoder().decode(BuildDetail.self, from: answer.body).features?.features)
    }

    func waitForProcessing(_ cluster: TestCluster, _ id: Int, after sequence: Int) async throws -> RepositoryConfig {
        try await waitUntil("the repository is processed", timeout: .seconds(300)) {
            let config = try await imports.config(cluster, id)
            return config.status == .processed && (config.processing?.sequence ?? 0) > sequence
        }
        return try await imports.config(cluster, id)
    }

    @Test func anImportWithAutoProcessEndsProcessedAndASyncExtractsOnlyTheNewBuilds() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/risky", 150)]) { api, baseURL in
            // Logs older than a week expire: those builds keep their git and history features.
            var faults = SandboxFaults()
            faults.logRetentionDays = 7
            try await ingestion.setFaults(baseURL, faults)
            // Comments on the newest push run's commit (GitHub's commit comments): one written an
            // hour before the run was triggered, one an hour after, which is that build's future.
            let commented = try #require(api.world.repository("acme/risky")?.runs.first { $0.event == "push" })
            let commentedTrigger = try Date(commented.created_at, strategy: .iso8601)
            for offset: TimeInterval in [-3_600, 3_600] {
                try api.world.addCommitComment(fullName: "acme/risky", sha: commented.head_sha, at: commentedTrigger.addingTimeInterval(offset))
            }
            // The predictor too: a processed repository's builds go on to prediction (pending here: no model).
            let runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor, .featureExtractor, .predictor].map {
                try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL))
            }
            try await withServices(runtimes) {
                // The events socket announces each build as it is extracted, and the repository's processing.
                let listener = try await EventListener.open(cluster, token: TestEnvironment.adminToken)
                defer { listener.close() }
                let received = listener.received
                let created = try await imports.importRepositories(cluster, #"{"repositories":[{"fullName":"acme/risky","autoProcess":true}]}"#)
                #expect(created.status == 202)
                let id = try #require(try JSONDecoder().decode([IngestionTests.IDOnly].self, from: created.body).first?.id)
                let first = try await waitForProcessing(cluster, id, after: 0)

                // One vector per build that ended its ingestion; none lost, none twice.
                let (ingestionCounts, records) = try await ingestion.importBuilds(cluster, id)
                let settled = records.filter { $0.status != .pending && $0.status != .failed }
                let page = try await trainingBuilds(cluster, id)
                #expect(page.builds.count == Set(page.builds.map(\.runId)).count)
                #expect(Set(page.builds.map(\.runId)).isSuperset(of: settled.map(\.runId)))
                #expect(page.counts.total == page.builds.count)
                #expect(first.processing?.counts.total == page.builds.count)
                // Reports reach the gateway through the outbox, several at a time: wait until every build was announced.
                let extractedBuilds = Dictionary(page.builds.map { ($0.runId, $0.extractionStatus) }) { first, _ in first }
                try await waitUntil("every extracted build was announced", timeout: .seconds(60)) {
                    Set(received.value.compactMap(\.buildExtracted).flatMap(\.builds).map(\.runId)).isSuperset(of: extractedBuilds.keys)
                }
                let announced = received.value.compactMap(\.buildExtracted).filter { $0.repoId == Int64(id) }.flatMap(\.builds)
                #expect(announced.count == extractedBuilds.count, "each build announced once")
                for build in announced { #expect(extractedBuilds[build.runId] == build.status.rawValue) }
                #expect(received.value.contains { $0.repoUpdate?.repoId == Int64(id) && $0.repoUpdate?.status == "processing" })
                #expect(received.value.contains { $0.repoUpdate?.repoId == Int64(id) && $0.repoUpdate?.status == "processed" })
                #expect(ingestionCounts.total == records.count)

                // Builds without logs are partial, say so, and still have their git features.
                let logsMissing = Set(records.filter { $0.resources.contains { $0.resource == .buildLogs && $0.status == .missing } }.map(\.runId))
                #expect(!logsMissing.isEmpty, "the 7-day retention expired some logs")
                for build in page.builds where logsMissing.contains(build.runId) {
                    #expect(build.extractionStatus == "partial")
                    #expect(build.missingResources.contains("build_logs"))
                }
                let withoutLogs = try #require(page.builds.first { logsMissing.contains($0.runId) })
                let partial = try await features(cluster, id, withoutLogs.runId)
                #expect(partial["tr_log_num_lines"] == nil)
                #expect(partial["git_num_all_built_commits"] != nil)

                // A build's features read its own run: id, event and commit as the sandbox made them.
                let repository = try #require(api.world.repository("acme/risky"))
                let someRun = try #require(repository.runs.first { run in page.builds.contains { $0.runId == run.id } })
                let values = try await features(cluster, id, someRun.id)
                #expect(values["tr_build_id"] == .integer(Int(someRun.id)))
                #expect(values["gh_event"] == .string(someRun.event))

                // A pull request's build: its number from the run, its discussion from GitHub's API,
                // counted up to the run's trigger only (the sandbox writes comments over the pull
                // request's whole life).
                let pullRun = try #require(repository.runs.first { run in
                    run.event == "pull_request" && !run.pull_requests.isEmpty && page.builds.contains { $0.runId == run.id }
                })
                let pull = try #require(repository.pulls.first { $0.number == pullRun.pull_requests[0].number })
                let trigger = try Date(pullRun.created_at, strategy: .iso8601)
                let pullValues = try await features(cluster, id, pullRun.id)
                #expect(pullValues["gh_pull_req_num"] == .integer(pull.number))
                #expect(pullValues["gh_pr_created_at"] == .string(pull.createdAt.formatted(.iso8601)))
                #expect(pullValues["gh_num_issue_comments"] == .integer(pull.commentTimes(pull.comments).filter { $0 < trigger }.count))
                #expect(pullValues["gh_num_pr_comments"] == .integer(pull.commentTimes(pull.reviewComments).filter { $0 < trigger }.count))
                #expect(pullValues["gh_description_complexity"] == .integer((pull.title + " " + pull.body).split(whereSeparator: \.isWhitespace).count))
                let pushRun = try #require(repository.runs.first { run in run.event == "push" && page.builds.contains { $0.runId == run.id } })
                let pushValues = try await features(cluster, id, pushRun.id)
                #expect((pushValues["gh_pull_req_num"] ?? .null) == .null && (pushValues["gh_num_issue_comments"] ?? .null) == .null)

                // The commit comments through GitHub's API: only the one before the trigger counts.
                #expect(try await features(cluster, id, commented.id)["gh_num_commit_comments"] == .integer(1))
                #expect(pushValues["gh_num_commit_comments"] != nil)

                // Everything extracted before the sync, to compare after it.
                var before: [Int64: [String: FeatureValue]] = [:]
                for build in page.builds { before[build.runId] = try await features(cluster, id, build.runId) }

                // New commits and runs; the sync's ingestion ends and processing starts by itself.
                try await offThePool { try api.world.addActivity(fullName: "acme/risky", commits: 30) }
                #expect(try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/\(id)/sync-run", token: TestEnvironment.adminToken).status == 202)
                _ = try await waitForProcessing(cluster, id, after: first.processing?.sequence ?? 0)
                let after = try await trainingBuilds(cluster, id)
                #expect(after.builds.count > page.builds.count, "the sync brought new builds")
                // No earlier vector changed: nothing a build saw lay in its future.
                for (runId, values) in before {
                    #expect(try await features(cluster, id, runId) == values, "run \(runId)'s features changed after later builds arrived")
                }

                // The catalogue, and a refusal that writes nothing.
                let catalogue = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/features", token: TestEnvironment.adminToken)
                #expect(catalogue.status == 200)
                let document = try #require(try JSONSerialization.jsonObject(with: catalogue.body) as? [String: Any])
                #expect((document["features"] as? [Any])?.isEmpty == false)
                #expect(try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/999999/start-processing", token: TestEnvironment.adminToken).status == 404)

                // Deleting the repository makes the ingestor and the feature-extractor forget it too.
                #expect(try await http(TestEnvironment.httpClient, .DELETE, cluster.publicURL + "/api/v1/repos/\(id)", token: TestEnvironment.adminToken).status == 202)
                let internalClient = RPCClient(
                    httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(.featureExtractor), token: TestEnvironment.tokens.token(for: .gateway))
                try await waitUntil("the feature-extractor forgot the vectors") {
                    do {
                        _ = try await internalClient.call(FeatureMethods.vectors, FeatureVectorsParams(pipelineId: String(id), limit: 1))
                        return false
                    } catch RPCClientError.remote(let error) where error.kind == .notFound {
                        return true
                    }
                }
                let ingestor = ingestion.ingestor(cluster)
                try await waitUntil("the ingestor forgot the builds") {
                    try await ingestor.call(IngestionMethods.builds, IngestionBuildsParams(pipelineId: String(id), limit: 1)).counts.total == 0
                }
            }
        }
    }

    /// An import that selects no features extracts the whole catalogue, and asks for what that needs.
    @Test func theWholeCataloguesResourcesAreWhatAnImportWithoutASelectionIngests() throws {
        #expect(try FeatureDAG.standard.select(["*"]).resolved.ingestion == ModelPipelineService.modelResources)
    }

    /// An import that selects features asks the ingestor for exactly what they need and extracts
    /// only them and their dependencies; a selection the catalogue cannot meet is refused and
    /// writes nothing. (From contracts/features.json: `gh_event` needs nothing, and
    /// `git_num_all_built_commits` the git history through its dependency `git_all_built_commits`.)
    @Test func anImportsFeatureSelectionDecidesWhatIsIngestedAndExtracted() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/lean", 40)]) { _, baseURL in
            let runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor, .featureExtractor, .predictor].map {
                try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL))
            }
            try await withServices(runtimes) {
                for (selection, reason) in [(#"["nope_*"]"#, "no feature matches nope_*"), (#"[]"#, "select at least one feature")] {
                    let refused = try await imports.importRepositories(cluster, #"{"repositories":[{"fullName":"acme/lean","features":"# + selection + "}]}")
                    #expect(refused.status == 400, "\(refused.text)")
                    #expect(refused.text.contains(reason), "\(refused.text)")
                }
                let listed = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos", token: TestEnvironment.adminToken)
                #expect((try JSONSerialization.jsonObject(with: listed.body) as? [Any])?.isEmpty == true, "a refused import writes nothing: \(listed.text)")

                let created = try await imports.importRepositories(
                    cluster, #"{"repositories":[{"fullName":"acme/lean","autoProcess":true,"features":["gh_event","git_num_all_built_commits"]}]}"#)
                #expect(created.status == 202, "\(created.text)")
                let id = try #require(try JSONDecoder().decode([IngestionTests.IDOnly].self, from: created.body).first?.id)
                _ = try await waitForProcessing(cluster, id, after: 0)

                // The logs were never asked for: every build was ingested with its git history only.
                let (_, records) = try await ingestion.importBuilds(cluster, id)
                #expect(!records.isEmpty)
                for record in records {
                    let asked = record.resources.filter { $0.status != .skipped }.map(\.resource)
                    #expect(asked == [.gitHistory], "run \(record.runId): \(record.resources)")
                }
                let page = try await trainingBuilds(cluster, id)
                #expect(page.builds.count == records.count)
                var names: Set<String> = []
                for build in page.builds {
                    #expect(build.missingResources.isEmpty, "run \(build.runId) misses \(build.missingResources)")
                    names.formUnion(try await features(cluster, id, build.runId).keys)
                }
                #expect(names.contains("gh_event") && names.contains("git_num_all_built_commits"), "\(names.sorted())")
                #expect(names.isSubset(of: ["gh_event", "git_num_all_built_commits", "git_all_built_commits"]), "\(names.sorted())")
            }
        }
    }
}
