import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// `/api/v1/build-sources` (admins): upload a CSV of builds, follow its validation, list its rows.
/// The upload streams to a file in the shared data directory; the source-validator parses it
/// from there (never whole in memory) and refuses a malformed file with the line and the reason.
struct BuildSourceController: Sendable {
    let directory: ServiceDirectory
    let dataDirectory: String
    /// The largest CSV accepted.
    let maxUploadBytes = 1 << 30

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.post("/build-sources", use: upload)
        api.get("/build-sources/{id}", use: status)
        api.get("/build-sources/{id}/rows", use: rows)
    }

    @Sendable func upload(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<BuildSourceStatus> {
        try context.requireAdmin("only admins upload build sources")
        let query = request.uri.queryParameters
        func list(_ name: String) -> [String]? {
            query.get(name).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        }
        let sourceId = UUID().uuidString.lowercased()
        let uploads = dataDirectory + "/uploads"
        let path = uploads + "/\(sourceId).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw APIError(.internalServerError, "upload_failed", "could not create the upload file")
        }
        do {
            defer { try? handle.close() }
            var size = 0
            for try await chunk in request.body {
                size += chunk.readableBytes
                guard size <= maxUploadBytes else {
                    throw APIError(.contentTooLarge, "too_large", "a build source is at most \(maxUploadBytes) bytes")
                }
                handle.write(Data(buffer: chunk))
            }
        }
        let params = CreateBuildSourceParams(
            sourceId: sourceId, name: query.get("name") ?? "build source \(sourceId.prefix(8))", path: URL(fileURLWithPath: path).standardizedFileURL.path,
            mapping: ColumnMapping(repoName: query.get("repoColumn") ?? "repo_name", buildId: query.get("buildColumn") ?? "build_id"),
            filters: BuildFilters(
                conclusions: list("conclusions"), events: list("events"), branches: list("branches"),
                excludeBots: query.get("excludeBots") == "true"))
        do {
            let status = try await directory.client(for: .sourceValidator).call(BuildSourceMethods.create, params, timeout: .seconds(600))
            return EditedResponse(status: .created, response: status)
        } catch let error where remoteError(error)?.kind == .invalidInput {
            let remote = remoteError(error)
            throw APIError.badRequest("invalid_csv", remote?.data?.reason ?? remote?.message ?? "\(error)")
        } catch {
            throw APIError.unavailable("warehouse_unavailable", "the source-validator could not take the build source: \(error)")
        }
    }

    @Sendable func status(_ request: Request, context: AuthenticatedContext) async throws -> BuildSourceStatus {
        try context.requireAdmin("only admins see build sources")
        let id = context.parameters.get("id") ?? ""
        let status: BuildSourceStatus
        do {
            status = try await directory.client(for: .sourceValidator).call(BuildSourceMethods.status, BuildSourceRef(sourceId: id))
        } catch {
            if remoteError(error)?.kind == .notFound { throw APIError.notFound("no build source \(id)") }
            throw error
        }
        return status
    }

    @Sendable func rows(_ request: Request, context: AuthenticatedContext) async throws -> [SourceBuildRow] {
        try context.requireAdmin("only admins see build sources")
        let params = ListSourceBuildsParams(
            sourceId: context.parameters.get("id") ?? "", status: request.uri.queryParameters.get("status"),
            limit: request.uri.queryParameters.get("limit", as: Int.self) ?? 1000)
        return try await directory.client(for: .sourceValidator).call(BuildSourceMethods.rows, params)
    }
}
