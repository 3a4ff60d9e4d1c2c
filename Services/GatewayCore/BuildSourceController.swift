import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird

/// `/api/v1/build-sources` (admins): upload a CSV of builds, follow its validation, list its rows.
/// The upload streams to a file in the shared data directory; the source-validator parses it
/// from there (never whole in memory) and refuses a malformed file with the line and the reason.
struct BuildSourceController: Sendable {
    let directory: ServiceDirectory
    let dataDirectory: String

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.post("/build-sources", use: upload)
        api.get("/build-sources/{id}", use: status)
        api.get("/build-sources/{id}/rows", use: rows)
    }

    @Sendable func upload(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<BuildSourceStatus> {
        try context.requireAdmin("only admins upload build sources")
        let sourceId = UUID().uuidString.lowercased()
        let upload = try await CSVUpload.receive(request, id: sourceId, dataDirectory: dataDirectory)
        defer { try? FileManager.default.removeItem(atPath: upload.path) }
        let status = try await upload.createSource(
            sourceId: sourceId, name: request.uri.queryParameters.get("name") ?? "build source \(sourceId.prefix(8))", directory: directory)
        return EditedResponse(status: .created, response: status)
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
