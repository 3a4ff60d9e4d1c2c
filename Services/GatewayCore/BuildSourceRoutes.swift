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
struct BuildSourceRoutes: Sendable {
    let environment: ServiceEnvironment
    /// The largest CSV accepted.
    let maxUploadBytes = 1 << 30

    func add(to api: RouterGroup<GatewayRequestContext>) {
        api.post("/build-sources") { request, context in
            guard context.user?.role == .admin else {
                return HTTPHelpers.error(.forbidden, "forbidden", "only admins upload build sources")
            }
            let query = request.uri.queryParameters
            func list(_ name: String) -> [String]? {
                query.get(name).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            }
            let sourceId = UUID().uuidString.lowercased()
            let directory = environment.configuration.dataDirectory + "/uploads"
            let path = directory + "/\(sourceId).csv"
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                    return HTTPHelpers.error(.internalServerError, "upload_failed", "could not create the upload file")
                }
                defer { try? handle.close() }
                var size = 0
                for try await chunk in request.body {
                    size += chunk.readableBytes
                    guard size <= maxUploadBytes else {
                        return HTTPHelpers.error(.contentTooLarge, "too_large", "a build source is at most \(maxUploadBytes) bytes")
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
                let status = try await environment.directory.client(for: .sourceValidator).call(BuildSourceMethods.create, params, timeout: .seconds(600))
                return HTTPHelpers.json(status, status: .created)
            } catch RPCClientError.remote(let error) where error.kind == .invalidInput {
                return HTTPHelpers.error(.badRequest, "invalid_csv", error.data?.reason ?? error.message)
            } catch {
                return HTTPHelpers.error(.badGateway, "warehouse_unavailable", "the source-validator could not take the build source: \(error)")
            }
        }
        api.get("/build-sources/{id}") { _, context in
            guard context.user?.role == .admin else { return HTTPHelpers.error(.forbidden, "forbidden", "only admins see build sources") }
            let id = context.parameters.get("id") ?? ""
            do {
                return HTTPHelpers.json(try await environment.directory.client(for: .sourceValidator).call(BuildSourceMethods.status, BuildSourceRef(sourceId: id)))
            } catch RPCClientError.remote(let error) where error.kind == RPCErrorKind.notFound {
                return HTTPHelpers.error(.notFound, "not_found", "no build source \(id)")
            }
        }
        api.get("/build-sources/{id}/rows") { request, context in
            guard context.user?.role == .admin else { return HTTPHelpers.error(.forbidden, "forbidden", "only admins see build sources") }
            let params = ListSourceBuildsParams(
                sourceId: context.parameters.get("id") ?? "", status: request.uri.queryParameters.get("status"),
                limit: request.uri.queryParameters.get("limit", as: Int.self) ?? 1000)
            return HTTPHelpers.json(try await environment.directory.client(for: .sourceValidator).call(BuildSourceMethods.rows, params))
        }
    }
}
