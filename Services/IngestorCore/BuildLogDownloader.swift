import BuildRiskGit
import AsyncHTTPClient
import BuildRiskGitHub
import BuildRiskLogs
import Foundation
import Logging
import NIOCore
import ZIPFoundation

/// Downloads a run's logs (GitHub answers 302 to a short-lived URL serving a zip: one file per
/// job and a folder of step files), streams the zip to disk within a size bound, unpacks the job
/// files under `<data>/logs/<github id>/<run id>/` and parses every file into facts.
public struct BuildLogDownloader: Sendable {
    /// A GitHub client whose HTTP client does not follow redirects: the download URL is signed
    /// and must be fetched without the API token.
    let github: GitHubClient
    let downloads: LazyHTTPClient
    let directory: String
    let configuration: IngestorConfiguration
    let logger: Logger

    public enum Outcome: Sendable {
        case parsed(RunLogFacts, zipBytes: Int64)
        /// GitHub no longer has the logs (expired past the retention window, or deleted).
        case missing(String)
    }

    /// A download that failed; a transient one (5xx, reset, stalled or short) is tried again.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        /// Whether another try may succeed (a 5xx, a broken or stalled connection, a short body),
        /// as opposed to an archive over the size bound.
        public var isTransient = true
    }

    /// Tries of one run's logs within a job, 0.5 s and 1 s apart, before its `build_logs` fails.
    static let attempts = 3

    public init(github: GitHubClient, downloads: LazyHTTPClient, dataDirectory: String, configuration: IngestorConfiguration, logger: Logger) {
        self.github = github
        self.downloads = downloads
        directory = URL(fileURLWithPath: dataDirectory).appendingPathComponent("logs").standardizedFileURL.path
        self.configuration = configuration
        self.logger = logger
    }

    /// Downloads, unpacks and parses one run's logs, trying a transient failure again: a single
    /// 503 or reset connection of the blob store should not fail a build.
    public func fetch(fullName: String, githubId: Int64, runId: Int64) async throws -> Outcome {
        var attempt = 1
        while true {
            do {
                return try await fetchOnce(fullName: fullName, githubId: githubId, runId: runId)
            } catch let failure as Failure where failure.isTransient {
                guard attempt < Self.attempts else {
                    throw Failure(description: "\(failure.description) (tried \(attempt) times)", isTransient: true)
                }
                logger.info("log download failed; trying again", metadata: ["run": "\(runId)", "attempt": "\(attempt)", "error": "\(failure)"])
                try await Task.sleep(for: .milliseconds(500 << (attempt - 1)))
                attempt += 1
            }
        }
    }

    /// One try: a fresh signed URL (the previous one may have expired), the download, the parse.
    private func fetchOnce(fullName: String, githubId: Int64, runId: Int64) async throws -> Outcome {
        let response: GitHubResponse
        do {
            response = try await github.get("/repos/\(fullName)/actions/runs/\(runId)/logs")
        } catch GitHubError.gone {
            return .missing("logs expired: GitHub answered 410 Gone")
        } catch GitHubError.notFound {
            return .missing("logs not found: GitHub answered 404")
        } catch let error as GitHubError where !error.isRetryable {
            throw Failure(description: "\(error)")
        }
        let runDirectory = "\(directory)/\(githubId)/\(runId)"
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let zipPath = "\(runDirectory).zip.partial"
        defer { try? FileManager.default.removeItem(atPath: zipPath) }
        let zipBytes: Int64
        if (300..<400).contains(response.status), let location = response.headers.first(name: "location") {
            let url = URL(string: location, relativeTo: URL(string: github.configuration.baseURL))?.absoluteString ?? location
            zipBytes = try await download(url, to: zipPath)
        } else {
            guard response.body.count <= configuration.maxLogBytes else { throw Failure(description: "log archive larger than \(configuration.maxLogBytes) bytes", isTransient: false) }
            try response.body.write(to: URL(fileURLWithPath: zipPath))
            zipBytes = Int64(response.body.count)
        }
        let facts = try await BlockingWork.run { [self] in BuildLogParser.parseRun(try unpack(zipPath, into: runDirectory)) }
        return .parsed(facts, zipBytes: zipBytes)
    }

    /// Streams `url` to `path`, refusing more than the configured bound. A download that receives
    /// no byte for `logStallTimeout` is broken off by the download client's idle-read timer: it
    /// runs on the connection's event loop, so a busy process delays the timer and the bytes
    /// alike and cannot mistake its own lateness for the server's silence. One still running after
    /// `logTimeout` fails: the client's deadline covers the wait for the head, each body chunk
    /// checks the rest (a trickle never stalls, so only this ends it).
    private func download(_ url: String, to path: String) async throws -> Int64 {
        let deadline = NIODeadline.now() + TimeAmount(configuration.logTimeout)
        let request = HTTPClientRequest(url: url)
        let response: HTTPClientResponse
        do {
            response = try await downloads.client().execute(request, deadline: deadline)
        } catch {
            throw Failure(description: "log download failed: \(describe(error))")
        }
        guard response.status == .ok else {
            // A 5xx of the store, or the signed URL expired between the redirect and the download
            // (403): the next try asks for a new URL.
            throw Failure(description: "log download failed: answered \(response.status.code)")
        }
        let length = response.headers.first(name: "content-length").flatMap(Int64.init)
        if let length, length > configuration.maxLogBytes {
            throw Failure(description: "log archive of \(length) bytes exceeds the bound of \(configuration.maxLogBytes)", isTransient: false)
        }
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw Failure(description: "cannot write \(path)", isTransient: false) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var written: Int64 = 0
        do {
            for try await buffer in response.body {
                guard NIODeadline.now() < deadline else {
                    throw Failure(description: "log download failed: not finished within \(configuration.logTimeout) (\(written) bytes received)")
                }
                written += Int64(buffer.readableBytes)
                guard written <= configuration.maxLogBytes else {
                    throw Failure(description: "log archive exceeds the bound of \(configuration.maxLogBytes) bytes", isTransient: false)
                }
                try handle.write(contentsOf: buffer.readableBytesView)
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "log download failed: broke off after \(written) bytes: \(describe(error))")
        }
        if let length, written != length {
            throw Failure(description: "log download failed: ended after \(written) of \(length) bytes")
        }
        return written
    }

    /// The client's idle-read timeout is a stall: said as one.
    private func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError, error == .readTimeout { return "no byte received for \(configuration.logStallTimeout)" }
        return "\(error)"
    }

    /// Reads every file of the archive (checking CRCs, so a truncated or corrupt zip fails) and
    /// keeps the per-job files on disk.
    private func unpack(_ zipPath: String, into runDirectory: String) throws -> [LogFile] {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: zipPath), accessMode: .read)
        } catch {
            throw Failure(description: "log archive is truncated or not a zip: \(error)")
        }
        var files: [LogFile] = []
        var total: Int64 = 0
        do {
            for entry in archive where entry.type == .file {
                total += Int64(entry.uncompressedSize)
                guard total <= configuration.maxLogBytes * 4 else {
                    throw Failure(description: "log archive unpacks to more than \(configuration.maxLogBytes * 4) bytes", isTransient: false)
                }
                var data = Data()
                _ = try archive.extract(entry, skipCRC32: false) { data.append($0) }
                if !entry.path.contains("/") {
                    let name = entry.path.replacingOccurrences(of: "..", with: "_")
                    try data.write(to: URL(fileURLWithPath: runDirectory).appendingPathComponent(name))
                }
                files.append(LogFile(path: entry.path, text: String(decoding: data, as: UTF8.self)))
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "log archive is truncated or corrupt: \(error)")
        }
        guard !files.isEmpty else { throw Failure(description: "log archive holds no files") }
        return files
    }
}
