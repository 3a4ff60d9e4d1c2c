import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird

/// `/api/v1/datasets` and their versions: a user's CSV of builds, validated by the warehouse, and
/// versions that select features and scans over its found builds and run them through the
/// dataset-enrichment pipeline. Users see their own datasets; admins see all.
struct DatasetController: Sendable {
    let pipeline: DatasetPipelineService
    let datasets: DatasetPostgresStore
    let directory: ServiceDirectory
    let dataDirectory: String

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.post("/datasets", use: upload)
        api.get("/datasets", use: list)
        api.get("/datasets/{id}", use: get)
        api.delete("/datasets/{id}", use: delete)
        api.get("/datasets/{id}/versions", use: versions)
        api.post("/datasets/{id}/versions", use: createVersion)
        api.get("/datasets/{id}/versions/{versionId}", use: version)
        api.delete("/datasets/{id}/versions/{versionId}", use: deleteVersion)
        api.get("/datasets/{id}/versions/{versionId}/import-builds", use: importBuilds)
        api.get("/datasets/{id}/versions/{versionId}/enrichment-builds", use: enrichmentBuilds)
        api.get("/datasets/{id}/versions/{versionId}/builds/{buildId}", use: build)
        api.post("/datasets/{id}/versions/{versionId}/start-processing", use: startProcessing)
        api.post("/datasets/{id}/versions/{versionId}/retry-ingestion", use: retryIngestion)
        api.post("/datasets/{id}/versions/{versionId}/retry-processing", use: retryProcessing)
        api.get("/datasets/{id}/versions/{versionId}/scan-status", use: scanStatus)
        api.get("/datasets/{id}/versions/{versionId}/commit-scans", use: commitScans)
        api.get("/datasets/{id}/versions/{versionId}/commit-scans/{sha}", use: commitScan)
        api.post("/datasets/{id}/versions/{versionId}/commit-scans/{sha}/retry", use: retryCommitScan)
    }

    // MARK: datasets

    /// The CSV is the body; `name`, `description` and the mapping and filters of a build source
    /// (`repoColumn`, `buildColumn`, `providerColumn`, `conclusions`, `events`, `branches`,
    /// `excludeBots`) are query parameters. A file the warehouse refuses answers 400 and stores nothing.
    @Sendable func upload(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Dataset> {
        let query = request.uri.queryParameters
        let name = (query.get("name") ?? "").trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw APIError.badRequest("invalid_name", "name the dataset: ?name=…") }
        let sourceId = "dataset-" + UUID().uuidString.lowercased()
        let upload = try await CSVUpload.receive(request, id: sourceId, dataDirectory: dataDirectory)
        defer { try? FileManager.default.removeItem(atPath: upload.path) }
        let validation = try await upload.createSource(sourceId: sourceId, name: name, directory: directory)
        var dataset: Dataset
        do {
            dataset = try await datasets.insertDataset(
                ownerId: context.user.id, name: name, description: query.get("description"), sourceId: sourceId, mapping: upload.mapping,
                filters: upload.filters)
        } catch {
            // The source is of no use without its dataset.
            _ = try? await directory.client(for: .sourceValidator).call(BuildSourceMethods.delete, BuildSourceRef(sourceId: sourceId))
            throw error
        }
        dataset.validation = validation
        return EditedResponse(status: .created, response: dataset)
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [Dataset] {
        try await datasets.datasets(ownerId: context.visibility)
    }

    /// The dataset with its validation as the warehouse counts it now.
    @Sendable func get(_ request: Request, context: AuthenticatedContext) async throws -> Dataset {
        var dataset = try await dataset(context)
        dataset.validation = try? await directory.client(for: .sourceValidator).call(BuildSourceMethods.status, BuildSourceRef(sourceId: dataset.sourceId))
        return dataset
    }

    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        guard try await pipeline.deleteDataset(id: try context.id(of: "dataset"), ownerId: context.visibility) else {
            throw APIError.notFound("you have no dataset \(context.parameters.get("id") ?? "")")
        }
        return Response(status: .noContent)
    }

    // MARK: versions

    @Sendable func versions(_ request: Request, context: AuthenticatedContext) async throws -> [DatasetVersion] {
        let dataset = try await dataset(context)
        return try await datasets.versions(datasetId: dataset.id, ownerId: context.visibility)
    }

    /// `{"name", "features"?: [names and wildcards], "scans"?: {"tools", "metrics"?: {tool: [names]},
    /// "configuration"?, "repositories"?: {"owner/name": configuration}}}`: checked, stored, and its
    /// found builds handed to the ingestor.
    @Sendable func createVersion(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<DatasetVersion> {
        let body = try await request.decodeBody(
            as: DatasetPipelineService.VersionRequest.self, context: context,
            expected: "{\"name\", \"features\"?: [\"git_*\", …], \"scans\"?: {\"tools\": [\"trivy\"|\"sonar\"], \"metrics\"?, \"configuration\"?, \"repositories\"?}}")
        let dataset = try await dataset(context)
        do {
            return EditedResponse(status: .created, response: try await pipeline.createVersion(dataset: dataset, request: body))
        } catch DatasetRequestError.invalid(let reason) {
            throw APIError.badRequest("invalid_version", reason)
        } catch DatasetRequestError.conflict(let reason) {
            throw APIError.conflict("not_ready", reason)
        }
    }

    @Sendable func version(_ request: Request, context: AuthenticatedContext) async throws -> DatasetVersion {
        try await version(context)
    }

    @Sendable func deleteVersion(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let (datasetId, versionId) = try ids(context)
        guard try await pipeline.deleteVersion(datasetId: datasetId, versionId: versionId, ownerId: context.visibility) else {
            throw APIError.notFound("you have no version \(versionId) of dataset \(datasetId)")
        }
        return Response(status: .noContent)
    }

    /// The dataset's rows (DatasetImportBuild) with their validation status and reason, in file
    /// order: `?status=found|not_found|filtered|pending`, `afterLine`, `limit` (≤ 1,000).
    @Sendable func importBuilds(_ request: Request, context: AuthenticatedContext) async throws -> [SourceBuildRow] {
        let version = try await version(context)
        guard let dataset = try await datasets.dataset(id: version.datasetId, ownerId: nil) else { throw APIError.notFound("the dataset is gone") }
        let query = request.uri.queryParameters
        if let status = query.get("status"), !["pending", "found", "not_found", "filtered"].contains(status) {
            throw APIError.badRequest("invalid_status", "status must be one of pending, found, not_found, filtered")
        }
        return try await directory.client(for: .sourceValidator).call(BuildSourceMethods.rows, ListSourceBuildsParams(
            sourceId: dataset.sourceId, status: query.get("status"), limit: min(try query.integer("limit", default: 100, range: 1...Int.max), 1000), afterLine: query.get("afterLine", as: Int.self)))
    }

    /// One repository's page of enrichment builds (DatasetEnrichmentBuild): each found build's
    /// extraction status, missing resources and skipped features. `?repository=<github id>`
    /// (default: the version's first), `status`, `before` (run id), `limit` (≤ 1,000).
    @Sendable func enrichmentBuilds(_ request: Request, context: AuthenticatedContext) async throws -> FeatureVectorPage {
        let version = try await version(context)
        let query = request.uri.queryParameters
        let repository = try repository(of: version, query)
        guard let repository else { return FeatureVectorPage(counts: ExtractionCounts(), vectors: []) }
        let status = try query.value("status", as: ExtractionStatus.self)
        return try await vectors(FeatureVectorsParams(
            pipelineId: repository.pipelineId, limit: min(try query.integer("limit", default: 100, range: 1...Int.max), 1000), beforeRunId: query.get("before", as: Int64.self),
            status: status, withFeatures: false))
    }

    /// One build of the version: its features and scan metrics.
    @Sendable func build(_ request: Request, context: AuthenticatedContext) async throws -> FeatureVectorRecord {
        let version = try await version(context)
        let buildId = try context.id("buildId", of: "build")
        for repository in version.repositories {
            let page = try await vectors(FeatureVectorsParams(pipelineId: repository.pipelineId, limit: 1, runId: buildId))
            if let vector = page.vectors.first { return vector }
        }
        throw APIError.notFound("version \(version.id) has no extracted build \(buildId)")
    }

    @Sendable func startProcessing(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<DatasetVersion> {
        try await apply(.processingRequested, context: context)
    }

    @Sendable func retryIngestion(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<DatasetVersion> {
        try await apply(.retryIngestionRequested, context: context)
    }

    @Sendable func retryProcessing(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<DatasetVersion> {
        try await apply(.retryProcessingRequested, context: context)
    }

    /// The version's scans: counts by tool and status over its repositories, and the failed commits.
    @Sendable func scanStatus(_ request: Request, context: AuthenticatedContext) async throws -> DatasetScanStatus {
        let version = try await version(context)
        var counts: [ScanToolName: ScanCounts] = [:]
        var failures: [FailedCommitScan] = []
        for repository in version.repositories {
            let summary: ScanStatusSummary
            do {
                summary = try await directory.client(for: .scannerBridge).call(ScanMethods.status, ScanStatusParams(pipelineId: repository.pipelineId))
            } catch let error where remoteError(error)?.kind == .notFound {
                continue
            } catch {
                throw APIError.unavailable("scanner_bridge_unavailable", "the scanner-bridge could not tell the scans' status: \(error)")
            }
            for count in summary.counts {
                var total = counts[count.tool] ?? ScanCounts(tool: count.tool)
                total.pending += count.pending
                total.running += count.running
                total.completed += count.completed
                total.failed += count.failed
                counts[count.tool] = total
            }
            failures += summary.failures
        }
        let tools = version.scans.tools.map { counts[$0] ?? ScanCounts(tool: $0) }
        // Complete once scans were asked for (processing started them) and none is pending or running.
        let asked = tools.reduce(0) { $0 + $1.pending + $1.running + $1.completed + $1.failed }
        let complete = tools.isEmpty || (asked > 0 && tools.allSatisfy { $0.pending == 0 && $0.running == 0 })
        return DatasetScanStatus(versionId: version.id, tools: tools, complete: complete, failures: failures)
    }

    /// One repository's commit scans (CommitScan: tool, status, attempts, error, the selected
    /// metrics), by commit: `?repository=<github id>` (default: the version's first), `tool`,
    /// `status`, `after` (a commit), `limit` (≤ 1,000 commits).
    @Sendable func commitScans(_ request: Request, context: AuthenticatedContext) async throws -> CommitScanPage {
        let version = try await version(context)
        let query = request.uri.queryParameters
        let repository = try repository(of: version, query)
        guard let repository else { return CommitScanPage(scans: [], nextAfterCommit: nil) }
        let status = try query.value("status", as: CommitScanStatus.self)
        return try await scans(CommitScansParams(
            pipelineId: repository.pipelineId, tool: try query.value("tool", as: ScanToolName.self), status: status, afterCommit: query.get("after"),
            limit: min(try query.integer("limit", default: 100, range: 1...Int.max), 1000)))
    }

    /// One commit's scans by each tool, over the version's repositories.
    @Sendable func commitScan(_ request: Request, context: AuthenticatedContext) async throws -> [CommitScanRecord] {
        let version = try await version(context)
        let sha = try commit(context)
        var records: [CommitScanRecord] = []
        for repository in version.repositories {
            records += try await scans(CommitScansParams(pipelineId: repository.pipelineId, commitSha: sha, limit: 1)).scans
        }
        guard !records.isEmpty else { throw APIError.notFound("version \(version.id) has no scan of commit \(sha)") }
        return records
    }

    /// Queues one commit's failed scans again (`?tool=trivy|sonar` for one tool); 202 with how many.
    @Sendable func retryCommitScan(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<ScanRetryResult> {
        let version = try await version(context)
        let sha = try commit(context)
        let tool = try request.uri.queryParameters.value("tool", as: ScanToolName.self)
        var queued = 0
        var found = false
        for repository in version.repositories {
            do {
                queued += try await directory.client(for: .scannerBridge).call(
                    ScanMethods.retryCommit, RetryCommitScanParams(pipelineId: repository.pipelineId, commitSha: sha, tool: tool)).queued
                found = true
            } catch let error where remoteError(error)?.kind == .notFound {
                continue
            } catch {
                throw APIError.unavailable("scanner_bridge_unavailable", "the scanner-bridge could not queue the retry: \(error)")
            }
        }
        guard found else { throw APIError.notFound("version \(version.id) has no scan of commit \(sha)") }
        return EditedResponse(status: .accepted, response: ScanRetryResult(pipelineId: "dataset:\(version.id)", queued: queued))
    }

    // MARK: helpers

    /// The repository `?repository=<github id>` names, or the version's first.
    private func repository(of version: DatasetVersion, _ query: Parameters) throws -> DatasetVersionRepository? {
        guard let text = query.get("repository") else { return version.repositories.first }
        guard let id = Int64(text) else { throw APIError.badRequest("invalid_repository", "repository must be a GitHub repository id") }
        guard let repository = version.repositories.first(where: { $0.githubId == id }) else {
            throw APIError.notFound("version \(version.id) has no repository \(id)")
        }
        return repository
    }

    private func scans(_ params: CommitScansParams) async throws -> CommitScanPage {
        do {
            return try await directory.client(for: .scannerBridge).call(ScanMethods.commits, params)
        } catch let error where remoteError(error)?.kind == .notFound {
            return CommitScanPage(scans: [], nextAfterCommit: nil)
        } catch {
            throw APIError.unavailable("scanner_bridge_unavailable", "the scanner-bridge could not list the scans: \(error)")
        }
    }

    /// The `{sha}` path parameter: a 40-digit hexadecimal commit id.
    private func commit(_ context: AuthenticatedContext) throws -> String {
        let sha = (context.parameters.get("sha") ?? "").lowercased()
        guard CommitID.isValid(sha) else { throw APIError.badRequest("invalid_commit", "a commit is 40 hexadecimal digits") }
        return sha
    }

    private func apply(_ event: DatasetPipeline.Event, context: AuthenticatedContext) async throws -> EditedResponse<DatasetVersion> {
        let (datasetId, versionId) = try ids(context)
        switch try await pipeline.request(event, datasetId: datasetId, versionId: versionId, ownerId: context.visibility) {
        case .accepted(let version): return EditedResponse(status: .accepted, response: version)
        case .notFound: throw APIError.notFound("you have no version \(versionId) of dataset \(datasetId)")
        case .refused(.nothingToDo(let reason)): throw APIError.conflict("nothing_to_do", reason)
        case .refused(let refusal): throw APIError.conflict("not_applicable", "version \(versionId) cannot do that now (\(refusal))")
        }
    }

    private func vectors(_ params: FeatureVectorsParams) async throws -> FeatureVectorPage {
        do {
            return try await directory.client(for: .featureExtractor).call(FeatureMethods.vectors, params)
        } catch let error where remoteError(error)?.kind == .notFound {
            return FeatureVectorPage(counts: ExtractionCounts(), vectors: [])
        } catch {
            throw APIError.unavailable("feature_extractor_unavailable", "the feature-extractor could not list the builds: \(error)")
        }
    }

    private func ids(_ context: AuthenticatedContext) throws -> (Int64, Int64) {
        (try context.id(of: "dataset"), try context.id("versionId", of: "version"))
    }

    private func dataset(_ context: AuthenticatedContext) async throws -> Dataset {
        let id = try context.id(of: "dataset")
        guard let dataset = try await datasets.dataset(id: id, ownerId: context.visibility) else { throw APIError.notFound("you have no dataset \(id)") }
        return dataset
    }

    private func version(_ context: AuthenticatedContext) async throws -> DatasetVersion {
        let (datasetId, versionId) = try ids(context)
        guard let version = try await datasets.versions(datasetId: datasetId, versionId: versionId, ownerId: context.visibility).first else {
            throw APIError.notFound("you have no version \(versionId) of dataset \(datasetId)")
        }
        return version
    }
}

/// A version's scans over its repositories.
public struct DatasetScanStatus: Codable, Sendable, Equatable, ResponseEncodable {
    public var versionId: Int64
    /// One entry per selected tool.
    public var tools: [ScanCounts]
    /// True when the version selected no tool, or its scans were asked for and none is pending or
    /// running: with `processed`, the version's enrichment is complete.
    public var complete: Bool
    public var failures: [FailedCommitScan]
}
