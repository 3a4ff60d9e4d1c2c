import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import GitHubSandboxCore
import Hummingbird
import ScannerBridgeCore
import ServiceLifecycle
import SonarQubeEmulatorCore
import Testing

/// The scanner-bridge as a service: commits of an ingested, processed repository scanned with the
/// emulated tools, one scan per commit whoever asks, the metrics landing in every build's vector of
/// that commit; SonarQube's webhook checked before anything is written; a Trivy that keeps timing
/// out ends failed with the reason.
@Suite(.timeLimit(.minutes(20)), .dropsTestDatabases)
struct ScanServiceTests {
    let imports = WarehouseImportTests()
    let ingestion = IngestionTests()
    let processing = ProcessingTests()

    func client(_ cluster: TestCluster, _ service: ServiceName) -> RPCClient {
        RPCClient(httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(service), token: TestEnvironment.tokens.token(for: .gateway))
    }

    func bridge(trivy: TrivyConfiguration, sonarURL: String, secret: String, webhookPort: Int) -> ServiceDefinition {
        ScannerBridgeService.definition(configuration: ScannerBridgeConfiguration(
            trivy: trivy,
            sonar: SonarQubeConfiguration(
                scannerExecutable: emulatorPath("sonar-scanner-emulator"), hostURL: sonarURL, token: "squ_scan_tests", webhookSecret: secret,
                timeout: .seconds(60)),
            webhookPort: webhookPort, batchSize: 2, batchInterval: .milliseconds(200)))
    }

    /// The SonarQube emulator on a free port, delivering its webhook to `webhookURL`.
    func withSonarQube<T: Sendable>(webhookURL: String, secret: String, _ body: @Sendable (SonarQubeEmulator, String) async throws -> T) async throws -> T {
        let port = freePort()
        let baseURL = "http://127.0.0.1:\(port)"
        let emulator = SonarQubeEmulator(
            configuration: .init(serverURL: baseURL, token: "squ_scan_tests", webhookURL: webhookURL, webhookSecret: secret), logger: TestEnvironment.logger)
        let server = Application(router: emulator.router(), configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: TestEnvironment.logger)
        let group = ServiceGroup(configuration: .init(services: [server, emulator], gracefulShutdownSignals: [], logger: TestEnvironment.logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try await waitUntil("the SonarQube emulator answers", timeout: startupTimeout) {
                (try? await HTTPClient.shared.execute(HTTPClientRequest(url: baseURL + "/_emulator/deliveries"), timeout: .seconds(2)))?.status == .ok
            }
            let result = try await body(emulator, baseURL)
            await group.triggerGracefulShutdown()
            return result
        }
    }

    func vectors(_ cluster: TestCluster, _ pipelineId: String) async throws -> [Int64: FeatureVectorRecord] {
        let page = try await client(cluster, .featureExtractor).call(FeatureMethods.vectors, FeatureVectorsParams(pipelineId: pipelineId, limit: 1000))
        return Dictionary(uniqueKeysWithValues: page.vectors.map { ($0.runId, $0) })
    }

    func counts(_ summary: ScanStatusSummary, _ tool: ScanToolName) -> ScanCounts {
        summary.counts.first { $0.tool == tool } ?? ScanCounts(tool: tool)
    }

    func postWebhook(_ port: Int, body: Data, signature: String?) async throws -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/webhooks/sonarqube")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        if let signature { request.headers.add(name: SonarWebhook.signatureHeader, value: signature) }
        request.body = .bytes(ByteBuffer(data: body))
        return Int(try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code)
    }

    /// The files of `sha` in the sandbox's bare repository, as a directory (what a worktree holds).
    func export(_ gitPath: String, _ sha: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "git --git-dir=\"$0\" archive \"$1\" | tar -x -C \"$2\"", gitPath, sha, directory]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return directory
    }

    @Test func commitsAreScannedOnceTheirMetricsReachEveryBuildAndOnlySignedWebhooksCount() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let webhookPort = freePort()
        let secret = "scan-webhook-\(UUID().uuidString)"
        let trivyLog = FileManager.default.temporaryDirectory.appendingPathComponent("trivy-runs-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: trivyLog) }
        try await imports.withSandbox([("acme/scanned", 40)]) { api, baseURL in
            try await withSonarQube(webhookURL: "http://127.0.0.1:\(webhookPort)/webhooks/sonarqube", secret: secret) { sonar, sonarURL in
                let trivy = TrivyConfiguration(executable: emulatorPath("trivy-emulator"), timeout: .seconds(60), environment: ["TRIVY_EMULATOR_LOG": trivyLog])
                var runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor, .featureExtractor, .predictor].map {
                    try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL))
                }
                runtimes.append(try makeRuntime(.scannerBridge, in: cluster, definition: bridge(trivy: trivy, sonarURL: sonarURL, secret: secret, webhookPort: webhookPort)))
                let repository = try #require(api.world.repository("acme/scanned"))
                try await withServices(runtimes) {
                    let created = try await imports.importRepositories(cluster, #"{"repositories":[{"fullName":"acme/scanned","autoProcess":true}]}"#)
                    #expect(created.status == 202)
                    let id = try #require(try JSONDecoder().decode([IngestionTests.IDOnly].self, from: created.body).first?.id)
                    _ = try await processing.waitForProcessing(cluster, id, after: 0)
                    let pipelineId = String(id)

                    // A commit two builds ran on (a branch push and its pull request), and two commits of one build each.
                    let before = try await vectors(cluster, pipelineId)
                    let builds = try await ingestion.importBuilds(cluster, id).builds.filter { before[$0.runId] != nil }
                    let byCommit = Dictionary(grouping: builds, by: \.headSha)
                    let shared = try #require(byCommit.first { $0.value.count >= 2 }?.key, "the sandbox made a commit with two builds")
                    let singles = byCommit.filter { $0.value.count == 1 }.keys.sorted().prefix(2)
                    #expect(singles.count == 2)
                    let selection = ["trivy_vuln_*", "trivy_secret_total", "sonar_ncloc", "sonar_files", "sonar_bugs"]
                    let bridge = client(cluster, .scannerBridge)

                    // Two requesters, one commit named twice: three scans, and the second requester shares them.
                    let first = try await bridge.call(ScanMethods.request, ScanRequest(
                        pipelineId: pipelineId, githubId: repository.id, fullName: "acme/scanned", commits: [shared, shared] + singles, tools: [.trivy],
                        selectedMetrics: selection))
                    #expect(first.created == 3)
                    let second = try await bridge.call(ScanMethods.request, ScanRequest(
                        pipelineId: "dataset-version-9", githubId: repository.id, fullName: "acme/scanned", commits: [shared], tools: [.trivy],
                        selectedMetrics: ["trivy_secret_total"]))
                    #expect(second.created == 0)
                    #expect(second.requested == 1)
                    try await waitUntil("the three Trivy scans complete", timeout: .seconds(120)) {
                        counts(try await bridge.call(ScanMethods.status, ScanStatusParams(pipelineId: pipelineId)), .trivy).completed == 3
                    }
                    let runs = try String(contentsOfFile: trivyLog, encoding: .utf8).split(separator: "\n")
                    #expect(runs.count == 3, "trivy ran \(runs.count) times for three unique commits")

                    // Both builds of the shared commit carry the selected metrics, as Trivy reports them on that commit's files.
                    let checkout = try export(repository.gitPath, shared)
                    defer { try? FileManager.default.removeItem(atPath: checkout) }
                    let expected = try await TrivyScanner(configuration: TrivyConfiguration(executable: emulatorPath("trivy-emulator"), timeout: .seconds(60)))
                        .scan(worktree: checkout).metrics.filtered(to: selection).values
                    #expect(!expected.isEmpty)
                    let sharedRuns = try #require(byCommit[shared]).map(\.runId)
                    try await waitUntil("both builds of the shared commit have the metrics") {
                        let now = try await vectors(cluster, pipelineId)
                        return sharedRuns.allSatisfy { now[$0]?.scanMetrics == expected }
                    }
                    // A build of a commit nobody scanned has none.
                    let scanned = Set([shared] + singles)
                    let unscanned = try #require(builds.first { !scanned.contains($0.headSha) })
                    #expect(try await vectors(cluster, pipelineId)[unscanned.runId]?.scanMetrics == [:])

                    // SonarQube: a delivery signed with the wrong secret is refused and changes nothing.
                    var faults = SonarEmulatorFaults()
                    faults.badSignature = true
                    sonar.faults = faults
                    let sonarRequest = ScanRequest(
                        pipelineId: pipelineId, githubId: repository.id, fullName: "acme/scanned", commits: [shared], tools: [.sonar],
                        configuration: ScanConfiguration(sonarProjectKeyPattern: "scan_tests_{name}_{commit}"), selectedMetrics: selection)
                    #expect(try await bridge.call(ScanMethods.request, sonarRequest).created == 1)
                    try await waitUntil("the forged webhook is delivered", timeout: .seconds(120)) { !sonar.deliveries.isEmpty }
                    let delivery = try #require(sonar.deliveries.first)
                    #expect(delivery.responseStatus == 401)
                    #expect(delivery.projectKey == "scan_tests_scanned_\(shared)")
                    let unsignedBody = Data(#"{"taskId":"\#(delivery.taskId)","status":"SUCCESS","project":{"key":"\#(delivery.projectKey)"}}"#.utf8)
                    #expect(try await postWebhook(webhookPort, body: unsignedBody, signature: nil) == 401)
                    #expect(try await postWebhook(webhookPort, body: unsignedBody, signature: String(repeating: "ab", count: 32)) == 401)
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(counts(try await bridge.call(ScanMethods.status, ScanStatusParams(pipelineId: pipelineId)), .sonar) == ScanCounts(tool: .sonar, running: 1))
                    #expect(try await vectors(cluster, pipelineId)[sharedRuns[0]]?.scanMetrics == expected, "a refused webhook wrote sonar metrics")

                    // Signed with the secret, the same delivery completes the scan; the measures are SonarQube's for that component.
                    let signature = SonarWebhook(secret: secret).signature(for: unsignedBody)
                    #expect(try await postWebhook(webhookPort, body: unsignedBody, signature: signature) == 200)
                    try await waitUntil("the SonarQube scan completes") {
                        counts(try await bridge.call(ScanMethods.status, ScanStatusParams(pipelineId: pipelineId)), .sonar).completed == 1
                    }
                    let measures = try await SonarQubeClient(httpClient: .shared, baseURL: sonarURL, token: "squ_scan_tests")
                        .metrics(component: delivery.projectKey, selection: selection).values
                    #expect(measures["sonar_files"] ?? 0 > 0, "\(measures)")
                    let both = expected.merging(measures) { $1 }
                    try await waitUntil("both builds carry Trivy's and SonarQube's metrics") {
                        let now = try await vectors(cluster, pipelineId)
                        return sharedRuns.allSatisfy { now[$0]?.scanMetrics == both }
                    }
                    // A repeated delivery changes nothing; one for a project the bridge never submitted is acknowledged and ignored.
                    #expect(try await postWebhook(webhookPort, body: unsignedBody, signature: signature) == 200)
                    let unknown = Data(#"{"taskId":"AX-unknown-task","status":"SUCCESS","project":{"key":"someone_elses_project"}}"#.utf8)
                    #expect(try await postWebhook(webhookPort, body: unknown, signature: SonarWebhook(secret: secret).signature(for: unknown)) == 200)

                    // A failed analysis fails the commit's scan with SonarQube's reason.
                    faults.badSignature = false
                    faults.failAnalyses = true
                    faults.failureMessage = "The analysis report is corrupted"
                    sonar.faults = faults
                    let failing = try #require(singles.first)
                    var failingRequest = sonarRequest
                    failingRequest.commits = [failing]
                    #expect(try await bridge.call(ScanMethods.request, failingRequest).created == 1)
                    try await waitUntil("the failed analysis fails the scan", timeout: .seconds(120)) {
                        counts(try await bridge.call(ScanMethods.status, ScanStatusParams(pipelineId: pipelineId)), .sonar).failed == 1
                    }
                    let sonarFailure = try #require(try await bridge.call(ScanMethods.status, ScanStatusParams(pipelineId: pipelineId)).failures.first)
                    #expect(sonarFailure.tool == .sonar)
                    #expect(sonarFailure.commitSha == failing)
                    #expect(sonarFailure.error.contains("The analysis report is corrupted"), "\(sonarFailure.error)")

                    // Through the gateway: every commit of the ingested builds, the three already scanned shared, not run again.
                    let body = Data(#"{"tools":["trivy"],"selectedMetrics":["trivy_vuln_*","trivy_secret_total","sonar_ncloc","sonar_files","sonar_bugs"]}"#.utf8)
                    let started = try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/\(id)/scans", token: TestEnvironment.adminToken, body: body)
                    #expect(started.status == 202, "\(started.text)")
                    let accepted = try JSONDecoder().decode(ScanRequestAccepted.self, from: started.body)
                    let ingested = Set(try await ingestion.importBuilds(cluster, id).builds
                        .filter { $0.resources.contains { $0.resource == .gitHistory && $0.status == .completed } }.map(\.headSha))
                    #expect(accepted.requested == ingested.count)
                    #expect(accepted.created == ingested.count - 3)
                    let latest = Locked<ScanStatusSummary?>(nil)
                    try await waitUntil("every commit's Trivy scan ends", timeout: .seconds(240)) {
                        let answer = try await http(TestEnvironment.httpClient, .GET, cluster.publicURL + "/api/v1/repos/\(id)/scans", token: TestEnvironment.adminToken)
                        let summary = try JSONDecoder().decode(ScanStatusSummary.self, from: answer.body)
                        latest.update { $0 = summary }
                        return counts(summary, .trivy).pending == 0 && counts(summary, .trivy).running == 0
                    }
                    let summary = try #require(latest.value)
                    #expect(counts(summary, .trivy) == ScanCounts(tool: .trivy, completed: ingested.count))
                    #expect(counts(summary, .sonar) == ScanCounts(tool: .sonar, completed: 1, failed: 1))
                    #expect(summary.failures.map(\.commitSha) == [failing], "\(summary.failures)")
                    let allRuns = try String(contentsOfFile: trivyLog, encoding: .utf8).split(separator: "\n")
                    #expect(allRuns.count == ingested.count, "trivy ran \(allRuns.count) times for \(ingested.count) unique commits")
                    #expect(try await http(TestEnvironment.httpClient, .POST, cluster.publicURL + "/api/v1/repos/999999/scans", token: TestEnvironment.adminToken, body: body).status == 404)
                }

                // Trivy past its limit on every run: tried three times, then failed with the reason, and retryable.
                var slow = trivy
                slow.timeout = .seconds(1)
                slow.backoff = .milliseconds(50)
                slow.environment["TRIVY_EMULATOR_SLEEP_SECONDS"] = "30"
                let restarted = [
                    try makeRuntime(.ingestor, in: cluster, definition: definition(of: .ingestor, githubURL: baseURL)),
                    try makeRuntime(.scannerBridge, in: cluster, definition: bridge(trivy: slow, sonarURL: sonarURL, secret: secret, webhookPort: webhookPort)),
                ]
                // A client of its own: the shared one may still hold a connection to the bridge that just stopped on this port.
                try await withTestHTTPClient { httpClient in
                    try await withServices(restarted) {
                        let bridge = RPCClient(httpClient: httpClient, baseURL: cluster.internalURL(.scannerBridge), token: TestEnvironment.tokens.token(for: .gateway))
                        let commit = try #require(repository.runs.last?.head_sha)
                        let request = ScanRequest(
                            pipelineId: "timeouts", githubId: repository.id, fullName: "acme/scanned", commits: [commit], tools: [.trivy],
                            configuration: ScanConfiguration(trivyScanners: ["secret"]))
                        #expect(try await bridge.call(ScanMethods.request, request).created == 1)
                        try await waitUntil("the slow scan fails", timeout: .seconds(120)) {
                            counts(try await bridge.call(ScanMethods.status, ScanStatusParams(pipelineId: "timeouts")), .trivy).failed == 1
                        }
                        let failure = try #require(try await bridge.call(ScanMethods.status, ScanStatusParams(pipelineId: "timeouts")).failures.first)
                        #expect(failure.commitSha == commit)
                        #expect(failure.attempts == 3)
                        #expect(failure.error.contains("did not finish within"))
                        #expect(try await bridge.call(ScanMethods.retryFailed, ScanStatusParams(pipelineId: "timeouts")).queued == 1)
                    }
                }
            }
        }
    }
}
