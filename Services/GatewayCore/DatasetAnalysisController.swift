import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension DatasetQualityAnswer: ResponseEncodable {}
extension DatasetDataPage: ResponseEncodable {}
extension DatasetDistribution: ResponseEncodable {}
extension DatasetCorrelation: ResponseEncodable {}
extension DatasetEvaluateAccepted: ResponseEncodable {}
extension DatasetExportJob: ResponseEncodable {}
extension DatasetExportJobList: ResponseEncodable {}

/// What the analysis and export routes work on: a dataset version, or a repository (the model
/// pipeline's export: its builds' metadata, features and predictions).
public struct AnalysisSubject: Sendable {
    /// Where the routes hang: `/datasets/{id}/versions/{versionId}`, `/repos/{id}`.
    let path: String
    /// A streamed export's file name without its extension.
    let fileStem: @Sendable (AuthenticatedContext) throws -> String
    /// The caller's spec; throws the 404 (or 409) when the caller cannot have it.
    let spec: @Sendable (AuthenticatedContext) async throws -> DatasetVersionSpec

    public init(
        path: String, fileStem: @escaping @Sendable (AuthenticatedContext) throws -> String,
        spec: @escaping @Sendable (AuthenticatedContext) async throws -> DatasetVersionSpec
    ) {
        self.path = path
        self.fileStem = fileStem
        self.spec = spec
    }
}

/// `/api/v1/datasets/{id}/versions/{versionId}/…`: a dataset version's quality report, data view,
/// distributions, correlations and exports; `/api/v1/repos/{id}/export…`: a repository's. The
/// dataset-splitter computes them from the spec the gateway gives it; the caller sees only what
/// the subject's spec answers for.
public struct DatasetAnalysisController: Sendable {
    let directory: ServiceDirectory
    let dataDirectory: String
    let subject: AnalysisSubject

    /// Rows of a streaming export asked of the dataset-splitter per call.
    static let streamChunk = 1000
    static let previewRows = 20
    /// The deadline of a call that walks the whole version (statistics, distributions, correlations):
    /// about a minute per 100,000 builds measured by scripts/bench-export, so well above the default 30 s.
    static let wholeVersion = Duration.seconds(600)

    public init(directory: ServiceDirectory, dataDirectory: String, subject: AnalysisSubject) {
        self.directory = directory
        self.dataDirectory = dataDirectory
        self.subject = subject
    }

    /// Every route: data, statistics, the quality report and the exports.
    public func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        let path = subject.path
        api.get("\(path)/data", use: data)
        api.get("\(path)/preview", use: preview)
        addExportRoutes(to: api)
        api.post("\(path)/evaluate", use: evaluate)
        api.get("\(path)/quality-report", use: qualityReport)
        api.get("\(path)/distribution", use: distribution)
        api.get("\(path)/correlation", use: correlation)
    }

    /// The export routes only: `export` (streamed), `export/async` with its jobs and download.
    public func addExportRoutes(to api: RouterGroup<AuthenticatedContext>) {
        let path = subject.path
        api.get("\(path)/export", use: export)
        api.post("\(path)/export/async", use: startExport)
        api.get("\(path)/export/jobs", use: exportJobs)
        api.get("\(path)/export/jobs/{jobId}", use: exportJob)
        api.get("\(path)/export/jobs/{jobId}/download", use: download)
    }

    /// `/export/preview`: the first 20 rows of the export, without statistics.
    public func addExportPreviewRoute(to api: RouterGroup<AuthenticatedContext>) {
        api.get("\(subject.path)/export/preview", use: preview)
    }

    /// `?limit=` (1–1000, default 100) and `?cursor=` or `?offset=`: a page of rows with per-column statistics.
    @Sendable func data(_ request: Request, context: AuthenticatedContext) async throws -> DatasetDataPage {
        let query = request.uri.queryParameters
        let limit = try query.integer("limit", default: 100, range: 1...1000)
        let offset = try query.integer("offset", default: 0, range: 0...Int.max)
        let spec = try await versionSpec(context)
        return try await call(DatasetMethods.data, DatasetDataParams(spec: spec, offset: offset, cursor: query.get("cursor"), limit: limit), timeout: Self.wholeVersion)
    }

    /// The first 20 rows, without statistics.
    @Sendable func preview(_ request: Request, context: AuthenticatedContext) async throws -> DatasetDataPage {
        let spec = try await versionSpec(context)
        return try await call(DatasetMethods.data, DatasetDataParams(spec: spec, limit: Self.previewRows, withStatistics: false))
    }

    /// `?format=csv|jsonl` (csv by default): the whole version as a chunked body, a chunk of rows at
    /// a time from the dataset-splitter, so neither service holds the version.
    @Sendable func export(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let format = try exportFormat(request)
        let spec = try await versionSpec(context)
        // The first chunk is asked before the answer starts, so a refusal still gets its status.
        let first = try await call(DatasetMethods.exportChunk, DatasetExportChunkParams(spec: spec, format: format, limit: Self.streamChunk))
        let directory = directory
        let body = ResponseBody { writer in
            var chunk = first
            while true {
                if !chunk.text.isEmpty { try await writer.write(ByteBuffer(string: chunk.text)) }
                guard let cursor = chunk.nextCursor else { break }
                // A failure past this point can only cut the body short: the status has gone out.
                chunk = try await directory.client(for: .datasetSplitter).call(
                    DatasetMethods.exportChunk, DatasetExportChunkParams(spec: spec, format: format, cursor: cursor, limit: Self.streamChunk))
            }
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = format == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson"
        headers[.contentDisposition] = "attachment; filename=\"\(try subject.fileStem(context)).\(format.fileExtension)\""
        return Response(status: .ok, headers: headers, body: body)
    }

    struct StartExport: Decodable {
        var format: DatasetExportFormat?
        var requestId: String?
    }

    /// Body `{"format"?: "csv"|"jsonl", "requestId"?}` (or `?format=`): queues an export job; 202 with the job.
    @Sendable func startExport(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<DatasetExportJob> {
        var request = request
        let bytes = try await request.collectBody(upTo: 64 * 1024)
        var body = StartExport()
        if bytes.readableBytes > 0 {
            body = try await request.decodeBody(as: StartExport.self, context: context, expected: "{\"format\"?: \"csv\"|\"jsonl\", \"requestId\"?: string}")
        }
        let format = try body.format ?? exportFormat(request)
        let spec = try await versionSpec(context)
        let job = try await call(
            DatasetMethods.startExport, DatasetStartExportParams(spec: spec, format: format, requestId: body.requestId ?? UUID().uuidString))
        return EditedResponse(status: .accepted, response: job)
    }

    @Sendable func exportJobs(_ request: Request, context: AuthenticatedContext) async throws -> DatasetExportJobList {
        let spec = try await versionSpec(context)
        return try await call(DatasetMethods.exportJobs, DatasetVersionRef(versionId: spec.versionId))
    }

    @Sendable func exportJob(_ request: Request, context: AuthenticatedContext) async throws -> DatasetExportJob {
        try await job(context).job
    }

    /// The export file, once the job completed; its path is checked to lie inside the exports directory.
    @Sendable func download(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let (job, _) = try await job(context)
        guard job.status == .completed, let fileName = job.fileName else {
            throw APIError.conflict("export_not_ready", "export job \(job.jobId) is \(job.status.rawValue)\(job.error.map { ": \($0)" } ?? "")")
        }
        let exports = URL(fileURLWithPath: dataDirectory).appendingPathComponent("exports").standardizedFileURL.resolvingSymlinksInPath().path
        let path = URL(fileURLWithPath: exports).appendingPathComponent(fileName).standardizedFileURL.resolvingSymlinksInPath().path
        guard path.hasPrefix(exports + "/"), !fileName.contains("/") else {
            throw APIError.notFound("export job \(job.jobId) has no file inside the exports directory")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw APIError.notFound("the file of export job \(job.jobId) is gone")
        }
        let body = try await FileIO().loadFile(path: path, context: context)
        var headers = HTTPFields()
        headers[.contentType] = job.format == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson"
        headers[.contentDisposition] = "attachment; filename=\"\(fileName)\""
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Queues the version's quality evaluation; 202.
    @Sendable func evaluate(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<DatasetEvaluateAccepted> {
        let spec = try await versionSpec(context)
        let accepted = try await call(DatasetMethods.evaluate, EvaluateDatasetParams(spec: spec, requestId: UUID().uuidString))
        return EditedResponse(status: .accepted, response: accepted)
    }

    /// The latest report; `status` pending or running while an evaluation is under way.
    @Sendable func qualityReport(_ request: Request, context: AuthenticatedContext) async throws -> DatasetQualityAnswer {
        let spec = try await versionSpec(context)
        return try await call(DatasetMethods.qualityReport, DatasetVersionRef(versionId: spec.versionId))
    }

    /// `?feature=` (required) and `?bins=` (1–200, default 20).
    @Sendable func distribution(_ request: Request, context: AuthenticatedContext) async throws -> DatasetDistribution {
        let query = request.uri.queryParameters
        guard let feature = query.get("feature"), !feature.isEmpty else {
            throw APIError.badRequest("invalid_query", "name the column: ?feature=<feature or scan metric>")
        }
        let bins = try query.integer("bins", default: 20, range: 1...200)
        let spec = try await versionSpec(context)
        return try await call(DatasetMethods.distribution, DatasetDistributionParams(spec: spec, feature: feature, bins: bins), timeout: Self.wholeVersion)
    }

    /// `?features=a,b` (optional; every numeric and boolean column when absent).
    @Sendable func correlation(_ request: Request, context: AuthenticatedContext) async throws -> DatasetCorrelation {
        let features = request.uri.queryParameters.get("features").map {
            $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let features, features.count < 2 {
            throw APIError.badRequest("invalid_query", "features must name at least two columns, separated by commas")
        }
        let spec = try await versionSpec(context)
        return try await call(DatasetMethods.correlation, DatasetCorrelationParams(spec: spec, features: features), timeout: Self.wholeVersion)
    }

    // MARK: Helpers

    private func versionSpec(_ context: AuthenticatedContext) async throws -> DatasetVersionSpec {
        try await subject.spec(context)
    }

    /// The route's export job, refused unless it belongs to the route's version.
    private func job(_ context: AuthenticatedContext) async throws -> (job: DatasetExportJob, spec: DatasetVersionSpec) {
        let jobId = try context.id("jobId", of: "export job")
        let spec = try await versionSpec(context)
        let job: DatasetExportJob
        do {
            job = try await directory.client(for: .datasetSplitter).call(DatasetMethods.exportJob, DatasetExportJobParams(jobId: jobId))
        } catch let error where remoteError(error)?.kind == .notFound {
            throw APIError.notFound("version \(spec.versionId) has no export job \(jobId)")
        } catch {
            throw APIError.unavailable("dataset_splitter_unavailable", "the dataset-splitter could not answer: \(error)")
        }
        guard job.versionId == spec.versionId else { throw APIError.notFound("version \(spec.versionId) has no export job \(jobId)") }
        return (job, spec)
    }

    private func exportFormat(_ request: Request) throws -> DatasetExportFormat {
        try request.uri.queryParameters.value("format", as: DatasetExportFormat.self) ?? .csv
    }

    /// Calls the dataset-splitter: its refusals become 400/404/409 with its reason, anything else 502.
    private func call<P, R>(_ method: RPCMethod<P, R>, _ params: P, timeout: Duration? = nil) async throws -> R {
        do {
            return try await directory.client(for: .datasetSplitter).call(method, params, timeout: timeout)
        } catch {
            let reason = remoteError(error)?.data?.reason ?? remoteError(error)?.message ?? "\(error)"
            switch remoteError(error)?.kind {
            case .invalidInput?, .invalidParams?: throw APIError.badRequest("invalid_request", reason)
            case .notFound?: throw APIError.notFound(reason)
            case .conflict?: throw APIError.conflict("conflict", reason)
            default: throw APIError.unavailable("dataset_splitter_unavailable", "the dataset-splitter could not answer: \(reason)")
            }
        }
    }
}
