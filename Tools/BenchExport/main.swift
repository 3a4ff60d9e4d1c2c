import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Synchronization

// scripts/bench-export: export rows per second and the dataset-splitter's peak memory exporting a
// version, through the running services (scripts/up): the export job (`datasets.startExport`,
// polled until completed) and the streaming path the gateway takes (`datasets.exportChunk`, 1,000
// rows a call, every chunk read to the end). The dataset-splitter's RSS is read from
// /proc/<pid>/status (VmRSS sampled every 100 ms, VmHWM at the end).
//
// Usage: bench-export --splitter URL --tls DIR --pipeline ID --github-id N --name owner/name
//                     --features a,b,… --metrics x,y --pid PID [--format csv|jsonl]
// The service secret comes from BUILDRISK_SERVICE_SECRET.

struct Options: Sendable {
    var splitter = ""
    var tls = ""
    var pipeline = ""
    var githubId: Int64 = 0
    var name = ""
    var features: [String] = []
    var metrics: [String] = []
    var pid: Int32 = 0
    var format = DatasetExportFormat.csv
}

var parsed = Options()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    let value = arguments.next() ?? ""
    switch argument {
    case "--splitter": parsed.splitter = value
    case "--tls": parsed.tls = value
    case "--pipeline": parsed.pipeline = value
    case "--github-id": parsed.githubId = Int64(value) ?? 0
    case "--name": parsed.name = value
    case "--features": parsed.features = value.split(separator: ",").map(String.init)
    case "--metrics": parsed.metrics = value.split(separator: ",").map(String.init)
    case "--pid": parsed.pid = Int32(value) ?? 0
    case "--format": parsed.format = DatasetExportFormat(rawValue: value) ?? .csv
    default:
        FileHandle.standardError.write(Data("bench-export: unknown argument \(argument)\n".utf8))
        exit(2)
    }
}
let options = parsed

/// A field of /proc/<pid>/status in kB (VmRSS, VmHWM).
func memory(_ field: String) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(options.pid)/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return 0
}

final class Peak: Sendable {
    let value = Mutex(0)
}

/// Runs `body` while sampling the splitter's VmRSS every 100 ms; the result and the highest sample (kB).
func sampled<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> (T, Int) {
    let peak = Peak()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            while !Task.isCancelled {
                let now = memory("VmRSS")
                peak.value.withLock { $0 = max($0, now) }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let result = try await body()
        group.cancelAll()
        let now = memory("VmRSS")
        return (result, peak.value.withLock { max($0, now) })
    }
}

func megabytes(_ kilobytes: Int) -> String { String(format: "%.1f MB", Double(kilobytes) / 1024) }

let httpClient = ServiceDirectory.makeHTTPClient(tls: try TLSMaterial(directory: options.tls).clientConfiguration())
let secret = ProcessInfo.processInfo.environment["BUILDRISK_SERVICE_SECRET"] ?? ""
let splitter = RPCClient(httpClient: httpClient, baseURL: options.splitter, token: ServiceTokens(secret: secret).token(for: .gateway))
let spec = DatasetVersionSpec(
    versionId: "bench-export-\(Int(Date().timeIntervalSince1970))",
    pipelines: [DatasetPipelineRef(pipelineId: options.pipeline, githubId: options.githubId, fullName: options.name)],
    features: options.features, scanMetrics: options.metrics)

do {
    print("dataset-splitter pid \(options.pid): VmRSS \(megabytes(memory("VmRSS"))), VmHWM \(megabytes(memory("VmHWM"))) before")

    // The export job.
    let started = ContinuousClock.now
    let (job, jobPeak) = try await sampled {
        let job = try await splitter.call(DatasetMethods.startExport, DatasetStartExportParams(spec: spec, format: options.format, requestId: UUID().uuidString))
        while true {
            let now = try await splitter.call(DatasetMethods.exportJob, DatasetExportJobParams(jobId: job.jobId))
            if now.status == .completed || now.status == .failed { return now }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
    let jobSeconds = (ContinuousClock.now - started).inSeconds
    guard job.status == .completed else { throw RPCError(.internalError, "export job failed", reason: job.error) }
    print(String(
        format: "export job (%@): %d rows, %.1f MB in %.1f s = %.0f rows/s; splitter peak VmRSS %@",
        options.format.rawValue, job.rowsWritten, Double(job.bytes ?? 0) / 1_048_576, jobSeconds, Double(job.rowsWritten) / jobSeconds,
        megabytes(jobPeak)))

    // The streaming path: chunk after chunk, as the gateway's `export` route asks for them.
    let streamStart = ContinuousClock.now
    let ((rows, bytes), streamPeak) = try await sampled {
        var rows = 0
        var bytes = 0
        var cursor: String?
        repeat {
            let chunk = try await splitter.call(
                DatasetMethods.exportChunk, DatasetExportChunkParams(spec: spec, format: options.format, cursor: cursor, limit: 1000), timeout: .seconds(120))
            rows += chunk.rows
            bytes += chunk.text.utf8.count
            cursor = chunk.nextCursor
        } while cursor != nil
        return (rows, bytes)
    }
    let streamSeconds = (ContinuousClock.now - streamStart).inSeconds
    print(String(
        format: "streaming chunks (%@): %d rows, %.1f MB in %.1f s = %.0f rows/s; splitter peak VmRSS %@",
        options.format.rawValue, rows, Double(bytes) / 1_048_576, streamSeconds, Double(rows) / streamSeconds, megabytes(streamPeak)))
    print("dataset-splitter VmHWM (peak RSS over its life) after: \(megabytes(memory("VmHWM")))")
    _ = try await splitter.call(DatasetMethods.forget, DatasetVersionRef(versionId: spec.versionId))
} catch {
    FileHandle.standardError.write(Data("bench-export: \(error)\n".utf8))
    try? await httpClient.shutdown()
    exit(1)
}
try? await httpClient.shutdown()
