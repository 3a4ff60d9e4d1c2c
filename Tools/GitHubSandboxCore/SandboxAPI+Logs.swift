import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFoundationCompat
import NIOPosix
import ZIPFoundation

// A run's jobs and logs. GitHub answers a log request with a 302 to a signed blob-storage URL that
// expires after a minute ("This link expires after 1 minute", Download workflow run logs); the sandbox
// signs such URLs itself and serves them under /_sandbox/blobs/, outside the API's rate limits.
//
// Jobs are generated on request from the run id and the world's seed, so they are the same on every
// request and every start. A cancelled run gets the jobs of a build that did not fail: the sandbox's
// cancellations stand for a newer push superseding a healthy run. Runs that never ran (in progress,
// skipped, action_required, stale) have no jobs and no logs (404).

extension SandboxAPI {
    func addLogRoutes(to router: Router<BasicRequestContext>, api: RouterGroup<BasicRequestContext>, baseURL: String) {
        api.get("/repos/{owner}/{repo}/actions/runs/{id}/jobs") { request, context in
            guard let (repository, run) = self.run(context) else { return Self.notFound() }
            // Expired logs take the steps with them: GitHub then lists a job with `steps: []`.
            let expired = self.logsExpired(run, in: repository)
            let jobs = self.jobs(of: run, in: repository).enumerated().map { index, job in
                JobJSON(run: run, job: job, id: Self.jobID(run: run.id, index: index), steps: !expired, repository: repository, baseURL: baseURL)
            }
            let query = request.uri.queryParameters
            let perPage = min(max(query.get("per_page", as: Int.self) ?? 30, 1), 100)
            let page = max(query.get("page", as: Int.self) ?? 1, 1)
            let start = min((page - 1) * perPage, jobs.count)
            var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
            headers[.link] = Self.links(
                baseURL + "/repos/\(repository.fullName)/actions/runs/\(run.id)/jobs", query: query, page: page,
                lastPage: max(1, (jobs.count + perPage - 1) / perPage))
            let list = JobList(total_count: jobs.count, jobs: Array(jobs[start..<min(start + perPage, jobs.count)]))
            return self.conditional(request, Self.encode(list), headers: headers)
        }
        api.get("/repos/{owner}/{repo}/actions/runs/{id}/logs") { _, context in
            guard let (repository, run) = self.run(context), Self.ran(run) else { return Self.notFound() }
            if self.logsExpired(run, in: repository) {
                return self.gone("https://docs.github.com/rest/actions/workflow-runs#download-workflow-run-logs")
            }
            return Self.redirect(self.blobURL("run", repository: repository.fullName, id: run.id, baseURL: baseURL))
        }
        api.get("/repos/{owner}/{repo}/actions/jobs/{id}/logs") { _, context in
            guard let repository = self.repository(context), let id = context.parameters.get("id", as: Int64.self), id >= 0,
                let run = repository.runs.first(where: { $0.id == id / 100 }),
                Int(id % 100) < self.jobs(of: run, in: repository).count
            else { return Self.notFound() }
            if self.logsExpired(run, in: repository) {
                return self.gone("https://docs.github.com/rest/actions/workflow-jobs#download-job-logs-for-a-workflow-run")
            }
            return Self.redirect(self.blobURL("job", repository: repository.fullName, id: id, baseURL: baseURL))
        }
        // The signed URLs (blob storage, not GitHub's API: no rate limits, no API faults).
        router.get("/_sandbox/blobs/{token}") { _, context in
            try await self.download(context.parameters.get("token") ?? "")
        }
    }

    private func run(_ context: BasicRequestContext) -> (SandboxRepository, SandboxRun)? {
        guard let repository = repository(context), let id = context.parameters.get("id", as: Int64.self),
            let run = repository.runs.first(where: { $0.id == id })
        else { return nil }
        return (repository, run)
    }

    /// Job ids: the run id times 100 plus the job's index, so a job id leads back to its run.
    static func jobID(run: Int64, index: Int) -> Int64 { run * 100 + Int64(index) }

    /// Whether the run has jobs and logs.
    static func ran(_ run: SandboxRun) -> Bool {
        run.status == "completed" && ["success", "failure", "cancelled"].contains(run.conclusion)
    }

    /// The jobs of a run that ran; the same on every call.
    func jobs(of run: SandboxRun, in repository: SandboxRepository) -> [SandboxJobLog] {
        guard Self.ran(run), let started = try? Date(run.created_at, strategy: .iso8601) else { return [] }
        // A per-repository seed keeps a repository on one test framework.
        return SandboxLogWriter.jobs(
            runId: run.id, language: repository.language, failed: run.conclusion == "failure", startedAt: started,
            seed: world.seed ^ UInt64(repository.id))
    }

    /// Whether the run's logs are past retention. Retention counts back from the repository's newest
    /// run rather than from today, since the generated histories are in the past.
    func logsExpired(_ run: SandboxRun, in repository: SandboxRepository) -> Bool {
        let days = faults.withLock { $0.logRetentionDays }
        guard days > 0, let newest = repository.runs.first.flatMap({ try? Date($0.created_at, strategy: .iso8601) }),
            let created = try? Date(run.created_at, strategy: .iso8601)
        else { return false }
        return created < newest.addingTimeInterval(-Double(days) * 86_400)
    }

    /// GitHub's answer for logs past retention: 410 with this body, as quoted for the job-logs endpoint in
    /// rust-lang/triagebot#2241. The run-log zip is assumed to answer alike, with its own documentation URL.
    func gone(_ documentation: String) -> Response {
        stats.withLock { $0.expiredLogs += 1 }
        return Self.json(["message": "Server Error", "documentation_url": documentation, "status": "410"], status: .gone)
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .found, headers: [.location: location])
    }

    /// A URL to the sandbox's blob storage, signed with a key of this process and valid `logURLSeconds`.
    func blobURL(_ kind: String, repository: String, id: Int64, baseURL: String) -> String {
        let expires = Int(Date().timeIntervalSince1970) + faults.withLock { $0.logURLSeconds }
        let payload = Data("\(kind):\(repository):\(id):\(expires)".utf8)
        let signature = HMAC<SHA256>.authenticationCode(for: payload, using: blobKey)
        let encoded = payload.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "\(baseURL)/_sandbox/blobs/\(encoded).\(Data(signature).map { String(format: "%02x", $0) }.joined())"
    }

    /// Serves a signed URL as Azure blob storage does: 403 for a bad or expired signature, 404 for nonsense.
    private func download(_ token: String) async throws -> Response {
        let parts = token.split(separator: ".")
        var base64 = String(parts.first ?? "").replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard parts.count == 2, let payload = Data(base64Encoded: base64), let signature = Self.bytes(hex: parts[1]) else {
            return Self.blobError(.notFound, "BlobNotFound", "The specified blob does not exist.")
        }
        let fields = String(decoding: payload, as: UTF8.self).split(separator: ":").map(String.init)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: payload, using: blobKey), fields.count == 4,
            let id = Int64(fields[2]), let expires = Double(fields[3])
        else {
            stats.withLock { $0.refusedLogURLs += 1 }
            return Self.blobError(.forbidden, "AuthenticationFailed", "Server failed to authenticate the request. Signature did not match.")
        }
        guard Date().timeIntervalSince1970 <= expires else {
            stats.withLock { $0.refusedLogURLs += 1 }
            return Self.blobError(.forbidden, "AuthenticationFailed", "Server failed to authenticate the request. Signature not valid in the specified time frame.")
        }
        let runID = fields[0] == "job" ? id / 100 : id
        guard let repository = world.repository(fields[1]), let run = repository.runs.first(where: { $0.id == runID }) else {
            return Self.blobError(.notFound, "BlobNotFound", "The specified blob does not exist.")
        }
        let jobs = self.jobs(of: run, in: repository)
        let faults = faults.withLock { $0 }
        // The first `logFaultsPerRun` downloads of a run's zip fail in turn: a 503, then a broken connection.
        let deterministicFault: Int? = fields[0] == "run" && faults.logFaultsPerRun > 0
            ? runDownloads.withLock { downloads -> Int? in
                let done = downloads[runID, default: 0]
                downloads[runID] = done + 1
                return done < faults.logFaultsPerRun ? done % 2 : nil
            } : nil
        if deterministicFault == 0 || (faults.logErrorRate > 0 && roll() < faults.logErrorRate) {
            let count = stats.withLock { stats -> Int in
                stats.logErrors += 1
                return stats.logErrors
            }
            let statuses: [HTTPResponse.Status] = [.serviceUnavailable, .badGateway, .internalServerError]
            return Self.blobError(deterministicFault == 0 ? .serviceUnavailable : statuses[count % 3], "ServerBusy", "The server is currently unable to receive requests. Please retry your request.")
        }
        stats.withLock { $0.logDownloads += 1 }
        let body: Data
        var headers: HTTPFields
        if fields[0] == "job" {
            guard Int(id % 100) < jobs.count else { return Self.blobError(.notFound, "BlobNotFound", "The specified blob does not exist.") }
            body = Data(jobs[Int(id % 100)].text.utf8)
            headers = [.contentType: "text/plain; charset=utf-8"]
        } else {
            let date = (try? Date(run.updated_at, strategy: .iso8601)) ?? Date(timeIntervalSince1970: 0)
            body = try await NIOThreadPool.singleton.runIfActive { try Self.zip(SandboxLogWriter.zipEntries(jobs), date: date) }
            headers = [.contentType: "application/zip", .contentDisposition: "attachment; filename=logs_\(run.id).zip"]
        }
        // A truncated archive is a connection that breaks mid-body after a head that promised the
        // whole length; a slow one stalls mid-body. Both are what a client meets on a real network.
        let breaks = fields[0] == "run" && (deterministicFault == 1 || (faults.truncatedZipRate > 0 && roll() < faults.truncatedZipRate))
        let stall = faults.slowLogMilliseconds.flatMap { $0 > 0 && (faults.slowLogRate >= 1 || roll() < faults.slowLogRate) ? $0 : nil }
        if breaks { stats.withLock { $0.truncatedZips += 1 } }
        if stall != nil { stats.withLock { $0.stalledLogs += 1 } }
        let half = body.count / 2
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody(contentLength: body.count) { writer in
                try await writer.write(ByteBuffer(data: body.prefix(half)))
                if breaks { throw SandboxError(description: "the sandbox breaks this connection mid-body") }
                if let stall { try await Task.sleep(for: .milliseconds(stall)) }
                try await writer.write(ByteBuffer(data: body.dropFirst(half)))
                try await writer.finish(nil)
            })
    }

    /// The run-log zip, deflated, built in memory.
    static func zip(_ entries: [(path: String, text: String)], date: Date) throws -> Data {
        let archive = try Archive(data: Data(), accessMode: .create)
        for entry in entries {
            let data = Data(entry.text.utf8)
            try archive.addEntry(
                with: entry.path, type: .file, uncompressedSize: Int64(data.count), modificationDate: date, compressionMethod: .deflate
            ) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        guard let data = archive.data else { throw SandboxError(description: "the in-memory zip has no data") }
        return data
    }

    private static func blobError(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        // Azure's error document, byte-order mark included.
        let body = "\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>\(code)</Code><Message>\(message)</Message></Error>"
        return Response(status: status, headers: [.contentType: "application/xml"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    private static func bytes(hex: Substring) -> Data? {
        guard hex.count % 2 == 0 else { return nil }
        var data = Data()
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            data.append(byte)
            index = next
        }
        return data
    }
}

struct JobList: Encodable {
    var total_count: Int
    var jobs: [JobJSON]
}

/// A job in GitHub's format (`GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs`).
struct JobJSON: Encodable {
    struct Step: Encodable {
        var name: String
        var status: String
        var conclusion: String
        var number: Int
        var started_at: String
        var completed_at: String
    }
    var id: Int64
    var run_id: Int64
    var run_attempt: Int
    var workflow_name: String
    var head_branch: String
    var head_sha: String
    var name: String
    var status: String
    var conclusion: String
    var created_at: String
    var started_at: String
    var completed_at: String
    var steps: [Step]
    var labels: [String]
    var runner_name: String
    var url: String
    var html_url: String
    var run_url: String

    init(run: SandboxRun, job: SandboxJobLog, id: Int64, steps: Bool, repository: SandboxRepository, baseURL: String) {
        self.id = id
        run_id = run.id
        run_attempt = run.run_attempt
        workflow_name = run.name
        head_branch = run.head_branch
        head_sha = run.head_sha
        name = job.name
        status = "completed"
        conclusion = job.conclusion
        created_at = run.created_at
        started_at = SandboxWorld.iso(job.startedAt)
        completed_at = SandboxWorld.iso(job.completedAt)
        self.steps = steps ? job.steps.map {
            Step(name: $0.name, status: "completed", conclusion: $0.conclusion, number: $0.number,
                 started_at: SandboxWorld.iso($0.startedAt), completed_at: SandboxWorld.iso($0.completedAt))
        } : []
        labels = [job.name.contains("macos") ? "macos-latest" : "ubuntu-latest"]
        runner_name = "GitHub Actions \(id % 1000)"
        url = "\(baseURL)/repos/\(repository.fullName)/actions/jobs/\(id)"
        html_url = "https://github.com/\(repository.fullName)/actions/runs/\(run.id)/job/\(id)"
        run_url = "\(baseURL)/repos/\(repository.fullName)/actions/runs/\(run.id)"
    }
}
