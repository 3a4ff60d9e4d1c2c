import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// An uploaded CSV of builds (a build source, a dataset): the body streamed to a file in the
/// shared data directory, where the source-validator parses it (never whole in memory), and the
/// column mapping and filters read from the query.
struct CSVUpload {
    /// The file's absolute path; the caller removes it once the source-validator has read it.
    let path: String
    let mapping: ColumnMapping
    let filters: BuildFilters

    /// The largest CSV accepted.
    static let maxBytes = 1 << 30

    /// Streams the body to `<data dir>/uploads/<id>.csv`. Query: `repoColumn`, `buildColumn`,
    /// `providerColumn`, `conclusions`, `events`, `branches` (comma-separated), `excludeBots=true`.
    static func receive(_ request: Request, id: String, dataDirectory: String) async throws -> CSVUpload {
        let query = request.uri.queryParameters
        func list(_ name: String) -> [String]? {
            query.get(name).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        }
        let uploads = dataDirectory + "/uploads"
        let path = URL(fileURLWithPath: uploads + "/\(id).csv").standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw APIError(.internalServerError, "upload_failed", "could not create the upload file")
        }
        do {
            defer { try? handle.close() }
            var size = 0
            for try await chunk in request.body {
                size += chunk.readableBytes
                guard size <= maxBytes else {
                    throw APIError(.contentTooLarge, "too_large", "a CSV of builds is at most \(maxBytes) bytes")
                }
                handle.write(Data(buffer: chunk))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return CSVUpload(
            path: path,
            mapping: ColumnMapping(
                repoName: query.get("repoColumn") ?? "repo_name", buildId: query.get("buildColumn") ?? "build_id",
                provider: query.get("providerColumn")),
            filters: BuildFilters(
                conclusions: list("conclusions"), events: list("events"), branches: list("branches"),
                excludeBots: query.get("excludeBots") == "true"))
    }

    /// Hands the file to the source-validator as build source `sourceId`: a file it refuses answers
    /// 400 `invalid_csv` with the line and the reason (and nothing is stored).
    func createSource(sourceId: String, name: String, directory: ServiceDirectory) async throws -> BuildSourceStatus {
        let params = CreateBuildSourceParams(sourceId: sourceId, name: name, path: path, mapping: mapping, filters: filters)
        do {
            return try await directory.client(for: .sourceValidator).call(BuildSourceMethods.create, params, timeout: .seconds(600))
        } catch let error where remoteError(error)?.kind == .invalidInput {
            let remote = remoteError(error)
            throw APIError.badRequest("invalid_csv", remote?.data?.reason ?? remote?.message ?? "\(error)")
        } catch {
            throw APIError.unavailable("warehouse_unavailable", "the source-validator could not take the CSV: \(error)")
        }
    }
}
