import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import GatewayCore
import GitHubSandboxCore
import NIOHTTP1
import ScannerBridgeCore
import Testing

/// The dataset-enrichment pipeline through the public API: a user's CSV of builds validated by the
/// warehouse, a version that selects features and Trivy metrics, its builds ingested and extracted,
/// each commit scanned once and its metrics on every build of it; bad requests write nothing, and
/// another user sees nothing.
@Suite(.timeLimit(.minutes(20)), .dropsTestDatabases)
struct DatasetTests {
    let imports = WarehouseImportTests()
    let scans = ScanServiceTests()

    func call(_ cluster: TestCluster, _ method: NIOHTTP1.HTTPMethod, _ path: String, token: String, body: String? = nil) async throws -> HTTPResult {
        try await http(TestEnvironment.httpClient, method, cluster.publicURL + "/api/v1" + path, token: token, body: body.map { Data($0.utf8) })
    }

    func get<T: Decodable>(_ type: T.Type, _ cluster: TestCluster, _ path: String, token: String) async throws -> T {
        let answer = try await call(cluster, .GET, path, token: token)
        guard answer.status == 200 else { throw WaitTimeout(description: "GET \(path) answered \(answer.status): \(answer.text)") }
        return try HTTPHelpers.decoder.decode(type, from: answer.body)
    }

    func newUser(_ cluster: TestCluster, _ name: String) async throws -> String {
        let created = try await call(cluster, .POST, "/users", token: TestEnvironment.adminToken, body: #"{"username":"\#(name)"}"#)
        return try #require(try created.json()["token"] as? String)
    }

    @Test func aCSVBecomesAScannedVersionAndOnlyItsOwnerSeesIt() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        let trivyLog = FileManager.default.temporaryDirectory.appendingPathComponent("trivy-runs-\(UUID().uuidString).log").path
        // Trivy runs wait for this file: the scans are held running until the features are extracted.
        let gate = FileManager.default.temporaryDirectory.appendingPathComponent("trivy-gate-\(UUID().uuidString)").path
        defer {
            try? FileManager.default.removeItem(atPath: trivyLog)
            try? FileManager.default.removeItem(atPath: gate)
        }
        try await imports.withSandbox([("acme/alpha", 40), ("acme/beta", 30)]) { api, baseURL in
            let trivy = TrivyConfiguration(
                executable: emulatorPath("trivy-emulator"), timeout: .seconds(600), environment: ["TRIVY_EMULATOR_LOG": trivyLog, "TRIVY_EMULATOR_GATE": gate])
            let logs = LogCapture()
            var runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor, .featureExtractor, .datasetSplitter].map {
                try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL), logger: logs.logger("buildrisk.\($0.rawValue)"))
            }
            runtimes.append(try makeRuntime(.scannerBridge, in: cluster, definition: scans.bridge(
                trivy: trivy, sonarURL: "http://127.0.0.1:9", secret: "unused", webhookPort: freePort()), logger: logs.logger("buildrisk.scanner-bridge")))
            let alpha = try #require(api.world.repository("acme/alpha"))
            let beta = try #require(api.world.repository("acme/beta"))
            try await withServices(runtimes) {
                let olive = try await newUser(cluster, "olive")
                let stan = try await newUser(cluster, "stan")
                let listener = try await EventListener.open(cluster, token: olive)
                defer { listener.close() }
                let strangersEvents = try await EventListener.open(cluster, token: stan)
                defer { strangersEvents.close() }

                // A commit two completed runs built, two commits of one run each, two runs of the
                // other repository, a run that does not exist and a CircleCI row.
                let completed = alpha.runs.filter { $0.status == "completed" }
                let byCommit = Dictionary(grouping: completed, by: \.head_sha)
                let shared = try #require(byCommit.values.first { $0.count >= 2 }.map { Array($0.prefix(2)) }, "the sandbox made a commit with two runs")
                let singles = byCommit.values.filter { $0.count == 1 }.map { $0[0] }.sorted { $0.id < $1.id }.prefix(2)
                let betaRuns = beta.runs.filter { $0.status == "completed" }.prefix(2)
                #expect(singles.count == 2 && betaRuns.count == 2)
                var csv = "repository,run,ci\n"
                for run in shared + singles { csv += "acme/alpha,\(run.id),github_actions\n" }
                for run in betaRuns { csv += "acme/beta,\(run.id),GitHub Actions\n" }
                csv += "acme/alpha,999999999,github_actions\n"
                csv += "acme/beta,123,circleci\n"
                let mapping = "&repoColumn=repository&buildColumn=run&providerColumn=ci"

                // Refused uploads store nothing: no name, a provider that is none, a missing column.
                #expect(try await call(cluster, .POST, "/datasets?description=x" + mapping, token: olive, body: csv).status == 400)
                let badProvider = try await call(cluster, .POST, "/datasets?name=d" + mapping, token: olive, body: "repository,run,ci\nacme/alpha,5,jenkins\n")
                #expect(badProvider.status == 400)
                #expect(badProvider.text.contains("line 2: provider 'jenkins' is not one of github_actions, circleci, travis"), "\(badProvider.text)")
                #expect(try await call(cluster, .POST, "/datasets?name=d&providerColumn=nope", token: olive, body: "repo_name,build_id\nacme/alpha,5\n").status == 400)
                #expect(try await get([Dataset].self, cluster, "/datasets", token: olive).isEmpty)

                let uploaded = try await call(cluster, .POST, "/datasets?name=alpha%20and%20beta&description=two%20repositories" + mapping, token: olive, body: csv)
                #expect(uploaded.status == 201, "\(uploaded.text)")
                let dataset = try HTTPHelpers.decoder.decode(Dataset.self, from: uploaded.body)
                #expect(dataset.mapping == ColumnMapping(repoName: "repository", buildId: "run", provider: "ci"))
                try await waitUntil("the dataset is validated") {
                    try await get(Dataset.self, cluster, "/datasets/\(dataset.id)", token: olive).validation?.status == "validated"
                }
                let validation = try #require(try await get(Dataset.self, cluster, "/datasets/\(dataset.id)", token: olive).validation)
                #expect(validation.counts == BuildSourceCounts(total: 8, pending: 0, found: 6, notFound: 1, filtered: 1))

                // Another user sees nothing of it.
                #expect(try await call(cluster, .GET, "/datasets/\(dataset.id)", token: stan).status == 404)
                #expect(try await get([Dataset].self, cluster, "/datasets", token: stan).isEmpty)
                #expect(try await call(cluster, .POST, "/datasets/\(dataset.id)/versions", token: stan, body: #"{"name":"v"}"#).status == 404)

                // Refused versions store nothing.
                let unknownFeature = try await call(cluster, .POST, "/datasets/\(dataset.id)/versions", token: olive, body: #"{"name":"v","features":["nope_*"]}"#)
                #expect(unknownFeature.status == 400)
                #expect(unknownFeature.text.contains("no feature matches nope_*"), "\(unknownFeature.text)")
                let badMetric = try await call(
                    cluster, .POST, "/datasets/\(dataset.id)/versions", token: olive,
                    body: #"{"name":"v","scans":{"tools":["trivy"],"metrics":{"trivy":["sonar_ncloc"]}}}"#)
                #expect(badMetric.status == 400)
                #expect(badMetric.text.contains("'sonar_ncloc' must start with trivy_"), "\(badMetric.text)")
                let badScanner = try await call(
                    cluster, .POST, "/datasets/\(dataset.id)/versions", token: olive,
                    body: #"{"name":"v","scans":{"tools":["trivy"],"repositories":{"acme/beta":{"trivyScanners":["viruses"]}}}}"#)
                #expect(badScanner.status == 400)
                #expect(badScanner.text.contains("scans.repositories.acme/beta: Trivy scanner 'viruses' is not one of"), "\(badScanner.text)")
                #expect(try await get([DatasetVersion].self, cluster, "/datasets/\(dataset.id)/versions", token: olive).isEmpty)

                let selection = ["trivy_vuln_*", "trivy_secret_total"]
                let created = try await call(
                    cluster, .POST, "/datasets/\(dataset.id)/versions", token: olive,
                    body: #"{"name":"v1","features":["gh_event","git_num_all_built_commits"],"scans":{"tools":["trivy"],"metrics":{"trivy":["trivy_vuln_*","trivy_secret_total"]}}}"#)
                #expect(created.status == 201, "\(created.text)")
                let version = try HTTPHelpers.decoder.decode(DatasetVersion.self, from: created.body)
                #expect(version.resources.contains(.gitWorktree), "scans need worktrees")
                #expect(!version.resources.contains(.buildLogs), "no selected feature reads logs")
                let path = "/datasets/\(dataset.id)/versions/\(version.id)"
                #expect(try await call(cluster, .GET, path, token: stan).status == 404)

                try await waitUntil("the version is ingested", timeout: .seconds(300)) {
                    try await get(DatasetVersion.self, cluster, path, token: olive).status == .ingested
                }
                let ingested = try await get(DatasetVersion.self, cluster, path, token: olive)
                #expect(ingested.repositories.map(\.fullName) == ["acme/alpha", "acme/beta"])
                #expect(ingested.repositories.map(\.builds) == [4, 2])
                #expect(ingested.repositories.map { $0.ingestion?.counts.ingested } == [4, 2])
                #expect(try await call(cluster, .POST, path + "/start-processing", token: stan).status == 404)
                #expect(try await call(cluster, .POST, path + "/retry-ingestion", token: olive).status == 409)

                let started = try await call(cluster, .POST, path + "/start-processing", token: olive)
                #expect(started.status == 202, "\(started.text)")
                try await waitUntil("the version is processed", timeout: .seconds(300)) {
                    try await get(DatasetVersion.self, cluster, path, token: olive).status == .processed
                }
                // Processing ended without waiting for the scans, which are still held: no metrics yet.
                let waiting = try await get(DatasetScanStatus.self, cluster, path + "/scan-status", token: olive)
                #expect(!waiting.complete)
                #expect(waiting.tools.first.map { $0.pending + $0.running } ?? 0 > 0, "\(waiting)")
                #expect(try await get(FeatureVectorRecord.self, cluster, path + "/builds/\(shared[0].id)", token: olive).scanMetrics == [:])
                // Released, the late scans' metrics still land in the processed version.
                #expect(FileManager.default.createFile(atPath: gate, contents: Data()))
                try await waitUntil("the scans are complete", timeout: .seconds(300)) {
                    try await get(DatasetScanStatus.self, cluster, path + "/scan-status", token: olive).complete
                }
                // One scan per unique commit: the shared commit once for its two builds.
                let commits = Set((shared + singles + betaRuns).map(\.head_sha))
                let status = try await get(DatasetScanStatus.self, cluster, path + "/scan-status", token: olive)
                #expect(status.tools == [ScanCounts(tool: .trivy, completed: commits.count)])
                let runs = try String(contentsOfFile: trivyLog, encoding: .utf8).split(separator: "\n")
                #expect(runs.count == commits.count, "trivy ran \(runs.count) times for \(commits.count) commits")

                // Both builds of the shared commit carry the selected metrics Trivy reports on its files.
                let checkout = try scans.export(alpha.gitPath, shared[0].head_sha)
                defer { try? FileManager.default.removeItem(atPath: checkout) }
                let expected = try await TrivyScanner(configuration: TrivyConfiguration(executable: emulatorPath("trivy-emulator"), timeout: .seconds(60)))
                    .scan(worktree: checkout).metrics.filtered(to: selection).values
                #expect(!expected.isEmpty)
                try await waitUntil("both builds of the shared commit have the metrics") {
                    try await shared.asyncAllSatisfy { run in
                        try await get(FeatureVectorRecord.self, cluster, path + "/builds/\(run.id)", token: olive).scanMetrics == expected
                    }
                }
                let vector = try await get(FeatureVectorRecord.self, cluster, path + "/builds/\(shared[0].id)", token: olive)
                #expect(Set((vector.features ?? [:]).keys).isSuperset(of: ["gh_event", "git_num_all_built_commits"]))
                #expect(vector.features?["gh_event"] == .string(shared[0].event))
                #expect(try await call(cluster, .GET, path + "/builds/\(shared[0].id)", token: stan).status == 404)

                // Commit scans: one per commit with the selected metrics, each announced to the owner.
                let alphaScans = try await get(CommitScanPage.self, cluster, path + "/commit-scans?repository=\(alpha.id)", token: olive)
                #expect(Set(alphaScans.scans.map(\.commitSha)) == Set((shared + singles).map(\.head_sha)))
                let sharedScans = try await get([CommitScanRecord].self, cluster, path + "/commit-scans/\(shared[0].head_sha)", token: olive)
                #expect(sharedScans.map(\.tool) == [.trivy])
                #expect(sharedScans.first?.status == .completed)
                #expect(sharedScans.first?.metrics == expected)
                let retried = try await call(cluster, .POST, path + "/commit-scans/\(shared[0].head_sha)/retry?tool=trivy", token: olive)
                #expect(retried.status == 202, "\(retried.text)")
                #expect(try JSONDecoder().decode(ScanRetryResult.self, from: retried.body).queued == 0, "a completed scan is not run again")
                #expect(try await call(cluster, .POST, path + "/commit-scans/\(String(repeating: "0", count: 40))/retry", token: olive).status == 404)
                #expect(try await call(cluster, .GET, path + "/commit-scans/not-a-commit", token: olive).status == 400)
                #expect(try await call(cluster, .GET, path + "/commit-scans?tool=lint", token: olive).status == 400)
                try await waitUntil("a SCAN_UPDATE per commit") {
                    Set(listener.received.value.compactMap(\.scanUpdate).filter { $0.versionId == version.id && $0.status == .completed }.map(\.commitSha)) == commits
                }
                #expect(listener.received.value.compactMap(\.scanUpdate).allSatisfy { $0.datasetId == dataset.id && $0.tool == .trivy })

                // The enrichment builds of the second repository, and the rows the warehouse filtered.
                let betaPage = try await get(FeatureVectorPage.self, cluster, path + "/enrichment-builds?repository=\(beta.id)", token: olive)
                #expect(Set(betaPage.vectors.map(\.runId)) == Set(betaRuns.map(\.id)))
                let filtered = try await get([SourceBuildRow].self, cluster, path + "/import-builds?status=filtered", token: olive)
                #expect(filtered.map(\.reason) == ["circleci imports are not available yet; github_actions is"])
                #expect(try await call(cluster, .GET, path + "/import-builds?status=lost", token: olive).status == 400)

                // Processed, the version was evaluated; its data and export hold its six builds; the stranger gets neither.
                try await waitUntil("the quality report is ready") {
                    try await get(DatasetQualityAnswer.self, cluster, path + "/quality-report", token: olive).status == .completed
                }
                let quality = try #require(try await get(DatasetQualityAnswer.self, cluster, path + "/quality-report", token: olive).report)
                #expect(quality.builds == 6)
                // The outcome label is part of every version: the class balance is the fixture's conclusions.
                let chosen = shared + singles + betaRuns
                #expect(quality.classBalance.passed == chosen.filter { $0.conclusion == "success" }.count)
                #expect(quality.classBalance.failed == chosen.filter { $0.conclusion != "success" }.count)
                #expect(version.features == ["gh_event", "git_num_all_built_commits", "build_successful"])
                let data = try await get(DatasetDataPage.self, cluster, path + "/data?limit=100", token: olive)
                #expect(data.total == 6)
                #expect(data.rows.count == 6, "\(data)")
                #expect(Set(data.columns.map(\.name)).isSuperset(of: ["gh_event", "git_num_all_built_commits"]), "\(data.columns.map(\.name))")
                let exported = try await call(cluster, .GET, path + "/export?format=csv", token: olive)
                #expect(exported.status == 200)
                #expect(exported.text.split(whereSeparator: \.isNewline).count == 7, "a header and six builds (CRLF lines): \(exported.text)")
                #expect(try await call(cluster, .GET, path + "/export?format=csv", token: stan).status == 404)
                #expect(try await call(cluster, .GET, path + "/quality-report", token: stan).status == 404)

                // The owner followed the version to its end; the stranger heard nothing of it.
                try await waitUntil("a processed DATASET_UPDATE") {
                    listener.received.value.contains { $0.datasetUpdate?.versionId == version.id && $0.datasetUpdate?.status == "processed" }
                }
                #expect(!strangersEvents.received.value.contains { $0.datasetUpdate != nil || $0.scanUpdate != nil })

                // Deleting: the stranger cannot; the owner's version and dataset go.
                #expect(try await call(cluster, .DELETE, path, token: stan).status == 404)
                #expect(try await call(cluster, .DELETE, path, token: olive).status == 204)
                #expect(try await call(cluster, .GET, path, token: olive).status == 404)
                #expect(try await call(cluster, .DELETE, "/datasets/\(dataset.id)", token: olive).status == 204)
                #expect(try await get([Dataset].self, cluster, "/datasets", token: olive).isEmpty)
                // No secret reached any of these services' logs, at any level.
                logs.expectNoSecrets(from: [.gateway, .sourceValidator, .ingestor, .featureExtractor, .datasetSplitter, .scannerBridge], extra: [olive, stan])
            }
        }
    }
}

extension Sequence where Element: Sendable {
    /// Whether every element satisfies an async predicate (checked in order, stopping at the first that does not).
    func asyncAllSatisfy(_ predicate: (Element) async throws -> Bool) async rethrows -> Bool {
        for element in self where !(try await predicate(element)) { return false }
        return true
    }
}
