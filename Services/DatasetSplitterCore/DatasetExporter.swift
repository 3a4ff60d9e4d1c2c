import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Exports of a version: chunks for the gateway's streaming download, and export jobs writing
/// `<data dir>/exports/<job id>.<csv|jsonl>` — a name the service makes from its own job id, never
/// from input, written as a hidden `.partial` file and renamed into place when complete.
struct DatasetExporter: Sendable {
    let store: DatasetSplitterPostgresStore
    let directory: ServiceDirectory
    let layouts: LayoutResolver
    let queue: JobQueue
    let dataDirectory: String
    let logger: Logger

    struct ExportJob: Codable, Sendable {
        var exportId: Int64
        var spec: DatasetVersionSpec
        var format: DatasetExportFormat
    }

    static let exportJob = JobKind<ExportJob>("datasets.export")
    /// Rows asked of the feature-extractor per page while writing a file.
    static let filePage = 1000

    var exportsDirectory: String { URL(fileURLWithPath: dataDirectory).appendingPathComponent("exports").path }

    /// The file of export job `id`, relative to the exports directory.
    static func fileName(id: Int64, format: DatasetExportFormat) -> String { "\(id).\(format.fileExtension)" }

    // MARK: Chunks

    func chunk(_ params: DatasetExportChunkParams) async throws -> DatasetExportChunk {
        let cursor = try params.cursor.map { try DatasetCursor(decoding: $0, spec: params.spec) }
        let layout = try await layouts.layout(params.spec, knownMetrics: cursor?.metrics)
        var text = cursor == nil ? ExportFormat.header(layout.columns, format: params.format) : ""
        var rows = 0
        let next = try await VersionReader(directory: directory, spec: params.spec).read(from: cursor?.position ?? .start, limit: params.limit) { page in
            for row in page {
                ExportFormat.line(layout.values(of: row), columns: layout.columns, format: params.format, into: &text)
            }
            rows += page.count
        }
        return DatasetExportChunk(text: text, rows: rows, nextCursor: next.map { DatasetCursor(position: $0, metrics: layout.metrics).encoded() })
    }

    // MARK: Jobs

    func start(_ params: DatasetStartExportParams) async throws -> DatasetExportJob {
        let id = try await store.client.withTransaction(logger: logger) { connection in
            let (id, created) = try await store.createExport(versionId: params.spec.versionId, requestId: params.requestId, format: params.format, on: connection)
            if created {
                try await queue.enqueue(
                    Self.exportJob, ExportJob(exportId: id, spec: params.spec, format: params.format),
                    options: JobOptions(priority: 1, maxAttempts: 3, idempotencyKey: "export:\(id)"), on: connection)
            }
            return id
        }
        guard let job = try await store.exportJob(id: id) else { throw DatasetStoreError.vanished("export job \(id)") }
        return job
    }

    func run(_ job: ExportJob, context: JobContext) async throws {
        guard let record = try await store.exportJob(id: job.exportId), record.status != .completed else { return }
        let name = Self.fileName(id: job.exportId, format: job.format)
        let final = URL(fileURLWithPath: exportsDirectory).appendingPathComponent(name).path
        let partial = URL(fileURLWithPath: exportsDirectory).appendingPathComponent(".\(name).partial").path
        do {
            try FileManager.default.createDirectory(atPath: exportsDirectory, withIntermediateDirectories: true)
            let reader = VersionReader(directory: directory, spec: job.spec)
            let total = try await reader.count().builds
            guard try await store.startExport(id: job.exportId, totalRows: total) else { return }  // forgotten
            let layout = try await layouts.layout(job.spec)
            FileManager.default.createFile(atPath: partial, contents: nil)
            guard let handle = FileHandle(forWritingAtPath: partial) else { throw ExportError.cannotWrite(partial) }
            defer { try? handle.close() }
            var bytes: Int64 = 0
            var rows = 0
            func write(_ text: String) throws {
                let data = Data(text.utf8)
                try handle.write(contentsOf: data)
                bytes += Int64(data.count)
            }
            try write(ExportFormat.header(layout.columns, format: job.format))
            var forgotten = false
            try await reader.read(pageSize: Self.filePage) { page in
                guard !forgotten else { return }
                var text = ""
                for row in page { ExportFormat.line(layout.values(of: row), columns: layout.columns, format: job.format, into: &text) }
                try write(text)
                rows += page.count
                forgotten = try await !store.exportProgress(id: job.exportId, rows: rows)
            }
            try handle.synchronize()
            try handle.close()
            guard !forgotten else {
                try? FileManager.default.removeItem(atPath: partial)
                return
            }
            if FileManager.default.fileExists(atPath: final) { try FileManager.default.removeItem(atPath: final) }
            try FileManager.default.moveItem(atPath: partial, toPath: final)
            if try await !store.completeExport(id: job.exportId, rows: rows, bytes: bytes, fileName: name) {
                try? FileManager.default.removeItem(atPath: final)  // forgotten while the file was renamed
            }
        } catch is CancellationError {
            try? FileManager.default.removeItem(atPath: partial)
            throw CancellationError()
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            if context.job.attempt >= context.job.maxAttempts || (error as? RPCClientError).map({ !$0.isRetryable }) == true {
                try await store.failExport(id: job.exportId, error: "\(error)")
                throw JobError.permanent("\(error)")
            }
            throw error
        }
    }

    /// Removes the files of forgotten export jobs (complete and partial); how many were there.
    func removeFiles(_ jobs: [(Int64, DatasetExportFormat)]) -> Int {
        var removed = 0
        for (id, format) in jobs {
            let name = Self.fileName(id: id, format: format)
            for file in [name, ".\(name).partial"] {
                let path = URL(fileURLWithPath: exportsDirectory).appendingPathComponent(file).path
                if (try? FileManager.default.removeItem(atPath: path)) != nil { removed += 1 }
            }
        }
        return removed
    }
}

enum ExportError: Error, CustomStringConvertible {
    case cannotWrite(String)

    var description: String {
        switch self {
        case .cannotWrite(let path): "cannot write the export file \(path)"
        }
    }
}
