import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import DatasetSplitterCore
import Foundation
import GatewayCore
import GitHubSandboxCore
import Hummingbird
import ServiceLifecycle
import Testing

/// The dataset-splitter over RPC against a real processed repository: the quality report counts
/// what the sandbox made (labels, pull-request numbers), the data view, the streaming export and
/// the export job give the same rows in the same columns, distributions and correlations add up,
/// and the gateway's routes serve the export file only from the exports directory.
@Suite(.timeLimit(.minutes(20)), .dropsTestDatabases)
struct DatasetSplitterTests {
    let imports = WarehouseImportTests()
    let processing = ProcessingTests()

    static let features = [
        "build_successful", "tr_status", "gh_event", "gh_pull_req_num", "tr_duration", "gh_lines_added", "gh_lines_deleted", "tr_prev_duration",
        "git_diff_file_types", "tr_build_id",
    ]

    func client(_ cluster: TestCluster, _ service: ServiceName) -> RPCClient {
        RPCClient(httpClient: TestEnvironment.httpClient, baseURL: cluster.internalURL(service), token: TestEnvironment.tokens.token(for: .gateway))
    }

    /// A number's value whatever JSON made of it (120.0 may come back as the integer 120).
    static func same(_ a: FeatureValue, _ b: FeatureValue) -> Bool {
        if let x = a.double, let y = b.double { return x == y }
        return a == b
    }

    /// The cell the test expects in CSV for a value (the fixture's rule: null empty, lists joined by #).
    static func cell(_ value: FeatureValue) -> String {
        switch value {
        case .null: ""
        case .integer(let value): String(value)
        case .number(let value): "\(value)"
        case .boolean(let value): value ? "true" : "false"
        case .string(let value): value
        case .stringList(let value): value.joined(separator: "#")
        }
    }

    static func sameCell(_ a: String, _ b: String) -> Bool {
        if let x = Double(a), let y = Double(b) { return x == y }
        return a == b
    }

    /// RFC 4180 records (quoted fields, doubled quotes, CRLF).
    static func parseCSV(_ text: String) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                record.append(field)
                field = ""
            } else if character == "\r\n" || character == "\n" {
                record.append(field)
                records.append(record)
                record = []
                field = ""
            } else {
                field.append(character)
            }
        }
        if !field.isEmpty || !record.isEmpty { records.append(record + [field]) }
        return records
    }

    /// Every chunk of the streaming export, concatenated.
    func exportText(_ splitter: RPCClient, _ spec: DatasetVersionSpec, _ format: DatasetExportFormat, limit: Int) async throws -> String {
        var text = ""
        var cursor: String?
        repeat {
            let chunk = try await splitter.call(DatasetMethods.exportChunk, DatasetExportChunkParams(spec: spec, format: format, cursor: cursor, limit: limit))
            text += chunk.text
            cursor = chunk.nextCursor
        } while cursor != nil
        return text
    }

    @Test func aProcessedVersionIsEvaluatedViewedAndExportedAlikeEverywhere() async throws {
        let database = try await TestDatabase.create()
        let cluster = TestCluster(database: database)
        try await imports.withSandbox([("acme/dataset", 40)]) { api, baseURL in
            let runtimes = try [ServiceName.gateway, .sourceValidator, .ingestor, .featureExtractor, .predictor, .datasetSplitter].map {
                try makeRuntime($0, in: cluster, definition: definition(of: $0, githubURL: baseURL))
            }
            try await withServices(runtimes) {
                let created = try await imports.importRepositories(cluster, #"{"repositories":[{"fullName":"acme/dataset","autoProcess":true}]}"#)
                #expect(created.status == 202)
                let id = try #require(try JSONDecoder().decode([IngestionTests.IDOnly].self, from: created.body).first?.id)
                _ = try await processing.waitForProcessing(cluster, id, after: 0)
                let repository = try #require(api.world.repository("acme/dataset"))
                let runs = Dictionary(uniqueKeysWithValues: repository.runs.map { ($0.id, $0) })
                let vectors = try await client(cluster, .featureExtractor).call(
                    FeatureMethods.vectors, FeatureVectorsParams(pipelineId: String(id), limit: 1000)).vectors
                #expect(vectors.count > 10)
                let extracted = vectors.filter { $0.status == .completed || $0.status == .partial }
                // What the sandbox made: labels from the runs' conclusions, pull-request numbers on pull-request runs.
                let expectedPassed = extracted.filter { runs[$0.runId]?.conclusion == "success" }.count
                let expectedFailed = extracted.count - expectedPassed
                let expectedPullNumbers = extracted.filter { runs[$0.runId].map { $0.event == "pull_request" && !$0.pull_requests.isEmpty } ?? false }.count
                #expect(expectedPassed > 0 && expectedFailed > 0, "the sandbox made both outcomes")
                #expect(expectedPullNumbers > 0 && expectedPullNumbers < extracted.count)

                let spec = DatasetVersionSpec(
                    versionId: "splitter-tests-1", pipelines: [DatasetPipelineRef(pipelineId: String(id), githubId: repository.id, fullName: "acme/dataset")],
                    features: Self.features, scanMetrics: [])
                let splitter = client(cluster, .datasetSplitter)

                // The data view, seven rows a page by cursor: every build once, newest first, in the stated columns.
                var rows: [[FeatureValue]] = []
                var cursor: String?
                var firstPage: DatasetDataPage?
                repeat {
                    let page = try await splitter.call(DatasetMethods.data, DatasetDataParams(spec: spec, cursor: cursor, limit: 7, withStatistics: cursor == nil))
                    if firstPage == nil { firstPage = page }
                    rows += page.rows
                    cursor = page.nextCursor
                } while cursor != nil
                let first = try #require(firstPage)
                let names = first.columns.map(\.name)
                #expect(names == ["repository", "run_id", "commit_sha", "extraction_status"] + Self.features)
                #expect(first.total == vectors.count)
                #expect(rows.count == vectors.count)
                #expect(rows.map { $0[1].int.map(Int64.init) } == vectors.map(\.runId).sorted(by: >))
                let label = try #require(names.firstIndex(of: "build_successful"))
                for row in rows {
                    guard let runId = row[1].int, let run = runs[Int64(runId)], row[3] != .string("failed") else { continue }
                    #expect(row[label] == .boolean(run.conclusion == "success"), "run \(runId)")
                }
                let labelStatistics = try #require(first.statistics.first { $0.column == "build_successful" })
                #expect(labelStatistics.topValues?.first { $0.value == "true" }?.count == expectedPassed)
                #expect(labelStatistics.topValues?.first { $0.value == "false" }?.count == expectedFailed)
                let offsetPage = try await splitter.call(DatasetMethods.data, DatasetDataParams(spec: spec, offset: 5, limit: 3, withStatistics: false))
                #expect(offsetPage.rows == Array(rows[5..<8]))

                // The quality report: counted from the same builds; idempotent per request.
                #expect(try await splitter.call(DatasetMethods.evaluate, EvaluateDatasetParams(spec: spec, requestId: "evaluate-1")).queued)
                #expect(try await splitter.call(DatasetMethods.evaluate, EvaluateDatasetParams(spec: spec, requestId: "evaluate-1")).queued == false)
                let answer = Locked<DatasetQualityAnswer?>(nil)
                try await waitUntil("the quality report is ready", timeout: .seconds(120)) {
                    let now = try await splitter.call(DatasetMethods.qualityReport, DatasetVersionRef(versionId: spec.versionId))
                    answer.update { $0 = now }
                    return now.status == .completed || now.status == .failed
                }
                let report = try #require(answer.value?.report, "\(String(describing: answer.value))")
                #expect(report.builds == vectors.count)
                #expect(report.classBalance.passed == expectedPassed)
                #expect(report.classBalance.failed == expectedFailed)
                let pullNumbers = try #require(report.features.first { $0.feature == "gh_pull_req_num" })
                #expect(pullNumbers.present == expectedPullNumbers)
                #expect(abs(pullNumbers.completeness - Double(expectedPullNumbers) / Double(vectors.count)) < 1e-12)
                #expect(report.worstFeatures.contains { $0.feature == "gh_pull_req_num" && $0.reason.contains("missing in \(vectors.count - expectedPullNumbers) of") })
                #expect(report.features.first { $0.feature == "build_successful" }?.present == extracted.count)
                #expect(report.duplicates.duplicateRunIds == 0)
                #expect(!report.duplicates.comparedFeatures.contains("tr_build_id"))
                let score = try #require(report.score)
                #expect(score > 0 && score <= 100)

                // A numeric distribution accounts for every build; the categories are the runs' events.
                let durations = try await splitter.call(DatasetMethods.distribution, DatasetDistributionParams(spec: spec, feature: "tr_duration", bins: 5))
                #expect(durations.kind == .histogram)
                let bins = try #require(durations.bins)
                #expect(bins.count == 5)
                #expect(bins.reduce(0) { $0 + $1.count } + durations.missing == vectors.count)
                #expect(bins.reduce(0) { $0 + $1.failed + $1.passed } == bins.reduce(0) { $0 + $1.count })
                let events = try await splitter.call(DatasetMethods.distribution, DatasetDistributionParams(spec: spec, feature: "gh_event"))
                var expectedEvents: [String: Int] = [:]
                for vector in extracted { expectedEvents[runs[vector.runId]?.event ?? "?", default: 0] += 1 }
                #expect(Dictionary(uniqueKeysWithValues: (events.categories ?? []).map { ($0.value, $0.count) }) == expectedEvents)
                await #expect(throws: RPCClientError.self) {
                    try await splitter.call(DatasetMethods.distribution, DatasetDistributionParams(spec: spec, feature: "no_such_feature"))
                }

                // Correlations: a column with itself is 1, the matrices are symmetric, n counts the builds with both values.
                let correlation = try await splitter.call(
                    DatasetMethods.correlation, DatasetCorrelationParams(spec: spec, features: ["tr_duration", "gh_lines_added", "build_successful"]))
                #expect(correlation.features == ["tr_duration", "gh_lines_added", "build_successful"])
                for index in 0..<3 {
                    #expect(abs((correlation.pearson[index][index] ?? 0) - 1) < 1e-9)
                    #expect(abs((correlation.spearman[index][index] ?? 0) - 1) < 1e-9)
                    for other in 0..<3 { #expect(correlation.pearson[index][other] == correlation.pearson[other][index]) }
                }
                #expect(correlation.n[0][0] == bins.reduce(0) { $0 + $1.count })
                #expect(correlation.n[2][2] == extracted.count)
                await #expect(throws: RPCClientError.self) {
                    try await splitter.call(DatasetMethods.correlation, DatasetCorrelationParams(spec: spec, features: ["gh_event", "tr_duration"]))
                }

                // The streaming export equals the data view row by row, in CSV and in JSON lines.
                let csv = try await exportText(splitter, spec, .csv, limit: 9)
                let records = Self.parseCSV(csv)
                #expect(records.first == names)
                #expect(records.count == rows.count + 1)
                for (record, row) in zip(records.dropFirst(), rows) {
                    #expect(record.count == row.count)
                    #expect(zip(record, row).allSatisfy { Self.sameCell($0, Self.cell($1)) }, "\(record) vs \(row)")
                }
                let jsonl = try await exportText(splitter, spec, .jsonl, limit: 11)
                let lines = jsonl.split(separator: "\n")
                #expect(lines.count == rows.count)
                for (line, row) in zip(lines, rows) {
                    let object = try JSONDecoder().decode([String: FeatureValue].self, from: Data(line.utf8))
                    #expect(object.count == names.count)
                    #expect(zip(names, row).allSatisfy { Self.same(object[$0] ?? .string("absent"), $1) }, "\(line)")
                }

                // The export job writes the same file; a second start of the same request is the same job.
                let started = try await splitter.call(DatasetMethods.startExport, DatasetStartExportParams(spec: spec, format: .csv, requestId: "export-1"))
                #expect(try await splitter.call(DatasetMethods.startExport, DatasetStartExportParams(spec: spec, format: .csv, requestId: "export-1")).jobId == started.jobId)
                let finished = Locked<DatasetExportJob?>(nil)
                try await waitUntil("the export job ends", timeout: .seconds(120)) {
                    let job = try await splitter.call(DatasetMethods.exportJob, DatasetExportJobParams(jobId: started.jobId))
                    finished.update { $0 = job }
                    return job.status == .completed || job.status == .failed
                }
                let job = try #require(finished.value)
                #expect(job.status == .completed, "\(job.error ?? "")")
                #expect(job.rowsWritten == rows.count)
                #expect(job.totalRows == rows.count)
                #expect(job.fileName == "\(started.jobId).csv")
                let path = cluster.dataDirectory + "/exports/" + (job.fileName ?? "")
                let file = try String(contentsOfFile: path, encoding: .utf8)
                #expect(file == csv)
                #expect(job.bytes == Int64(file.utf8.count))
                #expect(try await splitter.call(DatasetMethods.exportJobs, DatasetVersionRef(versionId: spec.versionId)).jobs.map(\.jobId) == [started.jobId])
                var otherSpec = spec
                otherSpec.versionId = "splitter-tests-2"
                let otherJob = try await splitter.call(DatasetMethods.startExport, DatasetStartExportParams(spec: otherSpec, format: .jsonl, requestId: "export-2"))

                let firstRows = Array(rows.prefix(20))
                // The gateway's routes, mounted as the gateway will: only the caller's version, only files of its jobs.
                let gateway = try #require(runtimes.first)
                try await withGatewayRoutes(gateway.environment.directory, cluster.dataDirectory, spec: spec) { baseURL in
                    try await withTestHTTPClient { http in
                        let version = baseURL + "/api/v1/datasets/1/versions/1"
                        let download = try await BuildRiskTests.http(http, .GET, version + "/export/jobs/\(started.jobId)/download")
                        #expect(download.status == 200)
                        #expect(download.text == file)
                        #expect(try await BuildRiskTests.http(http, .GET, version + "/export/jobs/..%2Fx/download").status == 400)
                        #expect(try await BuildRiskTests.http(http, .GET, version + "/export/jobs/\(otherJob.jobId)/download").status == 404)
                        #expect(try await BuildRiskTests.http(http, .GET, baseURL + "/api/v1/datasets/2/versions/1/export/jobs/\(started.jobId)/download").status == 404)
                        #expect(try await BuildRiskTests.http(http, .GET, baseURL + "/api/v1/datasets/2/versions/1/data").status == 404)
                        let streamed = try await BuildRiskTests.http(http, .GET, version + "/export?format=jsonl")
                        #expect(streamed.status == 200)
                        #expect(streamed.text == jsonl)
                        #expect(try await BuildRiskTests.http(http, .GET, version + "/export?format=xml").status == 400)
                        #expect(try await BuildRiskTests.http(http, .GET, version + "/distribution").status == 400)
                        #expect(try await BuildRiskTests.http(http, .GET, version + "/distribution?feature=tr_duration&bins=0").status == 400)
                        #expect(try await BuildRiskTests.http(http, .GET, version + "/distribution?feature=no_such_feature").status == 400)
                        #expect(try await BuildRiskTests.http(http, .GET, version + "/data?limit=5000").status == 400)
                        let preview = try await BuildRiskTests.http(http, .GET, version + "/preview")
                        #expect(try HTTPHelpers.decoder.decode(DatasetDataPage.self, from: preview.body).rows == firstRows)
                        let asyncExport = try await BuildRiskTests.http(http, .POST, version + "/export/async", body: Data(#"{"format":"jsonl","requestId":"rest-export"}"#.utf8))
                        #expect(asyncExport.status == 202, "\(asyncExport.text)")
                        let restJob = try HTTPHelpers.decoder.decode(DatasetExportJob.self, from: asyncExport.body)
                        #expect(restJob.format == .jsonl && restJob.versionId == spec.versionId)
                        #expect(try await BuildRiskTests.http(http, .POST, version + "/export/async?format=xml").status == 400)
                        #expect(try await BuildRiskTests.http(http, .GET, version + "/export/jobs/\(restJob.jobId)").status == 200)
                        let quality = try await BuildRiskTests.http(http, .GET, version + "/quality-report")
                        #expect(try HTTPHelpers.decoder.decode(DatasetQualityAnswer.self, from: quality.body).report?.builds == vectors.count)
                    }
                }

                // Forgetting the version removes its report, its jobs and their files.
                let forgotten = try await splitter.call(DatasetMethods.forget, DatasetVersionRef(versionId: spec.versionId))
                #expect(forgotten.reportsDeleted == 1)
                #expect(forgotten.exportsDeleted == 2)
                #expect(forgotten.filesDeleted >= 1)
                #expect(!FileManager.default.fileExists(atPath: path))
                await #expect(throws: RPCClientError.self) {
                    try await splitter.call(DatasetMethods.qualityReport, DatasetVersionRef(versionId: spec.versionId))
                }
            }
        }
    }

    /// The controller on a router of its own (the lead mounts it in the gateway), its caller a fixed
    /// user who sees version 1 of dataset 1 only.
    func withGatewayRoutes(_ directory: ServiceDirectory, _ dataDirectory: String, spec: DatasetVersionSpec, _ body: @Sendable (String) async throws -> Void) async throws {
        let user = try HTTPHelpers.decoder.decode(User.self, from: Data(#"{"id":7,"username":"alice","role":"user","createdAt":"2026-12-01T00:00:00Z"}"#.utf8))
        let subject = AnalysisSubject(path: "/datasets/{id}/versions/{versionId}", fileStem: { _ in "dataset-1-version-1" }) { context in
            guard context.parameters.get("id", as: Int64.self) == 1, context.parameters.get("versionId", as: Int64.self) == 1, context.user.id == 7 else {
                throw APIError(.notFound, "not_found", "you have no such version")
            }
            return spec
        }
        let controller = DatasetAnalysisController(directory: directory, dataDirectory: dataDirectory, subject: subject)
        let router = Router(context: GatewayRequestContext.self)
        controller.addRoutes(to: router.group("/api/v1").add(middleware: FixedUser(user: user)).group(context: AuthenticatedContext.self))
        let port = freePort()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: TestEnvironment.logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: TestEnvironment.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try await waitUntil("the routes answer", timeout: startupTimeout) { PortAllocator.acceptsConnections(port) }
            try await body("http://127.0.0.1:\(port)")
            await group.triggerGracefulShutdown()
        }
    }
}

/// Stands in for the token check: every request is the given user's.
struct FixedUser: RouterMiddleware {
    let user: User

    func handle(_ request: Request, context: GatewayRequestContext, next: (Request, GatewayRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        context.user = user
        return try await next(request, context)
    }
}

/// The quality report's validity rule, value by value; the cases are this file's own.
struct ValueValidityTests {
    @Test func ratiosAreBoundedByWholeNamePartsAndDurationsAreNot() {
        // A 120 s step is valid: "duration" is not a ratio, though it holds the letters.
        #expect(ValueValidity.problem(with: .number(120), feature: "gh_step_duration_max", declared: .number) == nil)
        #expect(ValueValidity.problem(with: .number(1.5), feature: "tr_prev_fail_ratio", declared: .number) == "ratio above 1")
        #expect(ValueValidity.problem(with: .number(1.5), feature: "tr_prev_fail_ratio_last5", declared: .number) == "ratio above 1")
        #expect(ValueValidity.problem(with: .number(0.4), feature: "git_files_fail_likelihood_max", declared: .number) == nil)
        #expect(ValueValidity.problem(with: .integer(-3), feature: "git_num_all_built_commits", declared: .integer) == "negative value")
        #expect(ValueValidity.problem(with: .number(.infinity), feature: "tr_duration", declared: .number) == "not a finite number")
        #expect(ValueValidity.problem(with: .string("x"), feature: "tr_duration", declared: .number) == "not of type number")
        #expect(ValueValidity.problem(with: .boolean(true), feature: "build_successful", declared: .boolean) == nil)
    }
}
