import AsyncHTTPClient
import Foundation
import GitHubSandboxCore
import Hummingbird
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import Testing

/// The GitHub sandbox as the ingestion service meets it: jobs and logs, forks, commits, comparisons, pull requests.
@Suite(.timeLimit(.minutes(3)))
struct SandboxAPITests {
    /// Follows no redirects, so a test sees GitHub's 302 to the log URL.
    static let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] { try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any]) }
        func list() throws -> [[String: Any]] { try #require(try JSONSerialization.jsonObject(with: body) as? [[String: Any]]) }
    }

    func request(_ url: String, accept: String? = nil, post body: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        if let accept { request.headers.add(name: "accept", value: accept) }
        if let body {
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        var buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
        let headers = Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }) { first, _ in first }
        return Answer(status: Int(response.status.code), headers: headers, body: buffer.readData(length: buffer.readableBytes) ?? Data())
    }

    /// Runs the sandbox with `repositories` on a free port around `body`.
    func withSandbox<T: Sendable>(_ repositories: [(String, Int)], _ body: @Sendable (SandboxAPI, String) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-\(UUID().uuidString)").path
        let world = SandboxWorld(directory: directory, seed: 11)
        try await offThePool {
            for (fullName, commits) in repositories {
                let parts = fullName.split(separator: "/").map(String.init)
                try world.addRepository(owner: parts[0], name: parts[1], commits: commits)
            }
        }
        let api = SandboxAPI(world: world)
        let port = freePort()
        let baseURL = "http://127.0.0.1:\(port)"
        let app = Application(router: api.router(baseURL: baseURL), configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: TestEnvironment.logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: TestEnvironment.logger))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try await waitUntil("the sandbox answers", timeout: startupTimeout) { (try? await request(baseURL + "/_sandbox/stats"))?.status == 200 }
            let result = try await body(api, baseURL)
            await group.triggerGracefulShutdown()
            return result
        }
    }

    @Test func aRunListsItsJobsAndItsLogsComeAsAZipBehindAShortLivedURL() async throws {
        try await withSandbox([("acme/api", 300)]) { api, baseURL in
            let repository = try #require(api.world.repository("acme/api"))
            let run = try #require(repository.runs.first { $0.conclusion == "failure" })
            let jobs = try await request(baseURL + "/repos/acme/api/actions/runs/\(run.id)/jobs").json()
            let list = try #require(jobs["jobs"] as? [[String: Any]])
            #expect(jobs["total_count"] as? Int == list.count)
            #expect(list.contains { $0["conclusion"] as? String == "failure" })
            for job in list {
                #expect(job["run_id"] as? Int64 == run.id)
                #expect(job["head_sha"] as? String == run.head_sha)
                #expect(job["status"] as? String == "completed")
                #expect(!(try #require(job["steps"] as? [[String: Any]])).isEmpty)
            }
            // Job ids are unique across runs.
            let other = try #require(repository.runs.first { $0.conclusion == "success" })
            let otherJobs = try #require(try await request(baseURL + "/repos/acme/api/actions/runs/\(other.id)/jobs").json()["jobs"] as? [[String: Any]])
            #expect(Set(list.compactMap { $0["id"] as? Int64 }).isDisjoint(with: otherJobs.compactMap { $0["id"] as? Int64 }))

            let redirect = try await request(baseURL + "/repos/acme/api/actions/runs/\(run.id)/logs")
            #expect(redirect.status == 302)
            let location = try #require(redirect.headers["location"])
            #expect(location.hasPrefix(baseURL + "/_sandbox/blobs/"))
            let zip = try await request(location)
            #expect(zip.status == 200)
            #expect(zip.headers["content-type"] == "application/zip")
            let names = try #require(Self.zipEntryNames(zip.body))
            let firstJob = try #require(list.first?["name"] as? String)
            #expect(names.contains("0_\(firstJob).txt"))
            #expect(names.contains("\(firstJob)/1_Set up job.txt"))

            let jobID = try #require(list.first?["id"] as? Int64)
            let jobRedirect = try await request(baseURL + "/repos/acme/api/actions/jobs/\(jobID)/logs")
            #expect(jobRedirect.status == 302)
            let text = try await request(try #require(jobRedirect.headers["location"]))
            #expect(text.status == 200)
            #expect(text.headers["content-type"]?.hasPrefix("text/plain") == true)
            #expect(text.text.contains("Set up job") || text.text.contains("runner"))
            #expect(try await request(baseURL + "/repos/acme/api/actions/jobs/\(jobID + 50)/logs").status == 404)
        }
    }

    @Test func logsPastRetentionAreGoneAndLogURLsExpire() async throws {
        try await withSandbox([("acme/api", 300)]) { api, baseURL in
            let faults = try await request(baseURL + "/_sandbox/faults", post: #"{"logRetentionDays": 7, "logURLSeconds": 1}"#)
            #expect(faults.status == 200)
            let runs = try #require(api.world.repository("acme/api")).runs.filter { ["success", "failure"].contains($0.conclusion) }
            let old = try #require(runs.last)
            let gone = try await request(baseURL + "/repos/acme/api/actions/runs/\(old.id)/logs")
            #expect(gone.status == 410)
            #expect(try gone.json()["message"] as? String == "Server Error")
            #expect(try gone.json()["status"] as? String == "410")
            // What is left of an expired run's jobs: no steps.
            let jobs = try #require(try await request(baseURL + "/repos/acme/api/actions/runs/\(old.id)/jobs").json()["jobs"] as? [[String: Any]])
            #expect(jobs.allSatisfy { ($0["steps"] as? [Any])?.isEmpty == true })
            let oldJob = try #require(jobs.first?["id"] as? Int64)
            #expect(try await request(baseURL + "/repos/acme/api/actions/jobs/\(oldJob)/logs").status == 410)

            let recent = try #require(runs.first)
            let location = try #require(try await request(baseURL + "/repos/acme/api/actions/runs/\(recent.id)/logs").headers["location"])
            try await Task.sleep(for: .milliseconds(2100))
            #expect(try await request(location).status == 403)
            #expect(try await request(baseURL + "/_sandbox/blobs/not-a-token").status == 404)
            #expect(api.currentStats.expiredLogs == 2)
        }
    }

    /// A truncated archive is what a client meets on a real network: the head promises the whole
    /// length, half the body comes, and the connection breaks.
    @Test func aTruncatedZipIsAConnectionThatBreaksMidBody() async throws {
        try await withSandbox([("acme/api", 120)]) { api, baseURL in
            #expect(try await request(baseURL + "/_sandbox/faults", post: #"{"truncatedZipRate": 1}"#).status == 200)
            let repository = try #require(api.world.repository("acme/api"))
            let run = try #require(repository.runs.first { $0.conclusion == "success" })
            let location = try #require(try await request(baseURL + "/repos/acme/api/actions/runs/\(run.id)/logs").headers["location"])
            let response = try await Self.client.execute(HTTPClientRequest(url: location), timeout: .seconds(30))
            #expect(response.status == .ok)
            let promised = try #require(response.headers.first(name: "content-length").flatMap(Int.init))
            var received = 0
            var broke = false
            do {
                for try await buffer in response.body { received += buffer.readableBytes }
            } catch {
                broke = true
            }
            #expect(broke, "the body ended cleanly after \(received) of \(promised) bytes")
            #expect(received > 0 && received < promised)
            #expect(api.currentStats.truncatedZips == 1)
            // Without the fault the same archive arrives whole and reads.
            #expect(try await request(baseURL + "/_sandbox/faults", post: "{}").status == 200)
            let whole = try await request(try #require(try await request(baseURL + "/repos/acme/api/actions/runs/\(run.id)/logs").headers["location"]))
            #expect(whole.body.count == promised)
            #expect(Self.zipEntryNames(whole.body)?.isEmpty == false)
        }
    }

    func get(_ url: String, token: String?, etag: String? = nil) async throws -> (status: Int, remaining: Int?, reset: Int?, etag: String?, retryAfter: String?, text: String) {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        if let etag { request.headers.add(name: "if-none-match", value: etag) }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers.first(name: "x-ratelimit-remaining").flatMap(Int.init),
                response.headers.first(name: "x-ratelimit-reset").flatMap(Int.init), response.headers.first(name: "etag"),
                response.headers.first(name: "retry-after"), String(buffer: body))
    }

    /// Withholding one pull request's ref takes that ref only: every other pull request keeps
    /// `refs/pull/N/head` at its head, and restoring brings the withheld one back.
    @Test func aWithheldPullRefWithholdsThatPullRequestsRefOnly() async throws {
        try await withSandbox([("acme/api", 120)]) { api, baseURL in
            let repository = try #require(api.world.repository("acme/api"))
            let forkPulls = repository.pulls.filter(\.fromFork)
            try #require(forkPulls.count >= 2)
            let withheld = forkPulls[0]
            let pullRefs = { try git(["--git-dir", repository.gitPath, "for-each-ref", "--format=%(refname) %(objectname)", "refs/pull"]) }
            let before = try pullRefs()
            #expect(try await request(baseURL + "/_sandbox/faults", post: #"{"withheldPullRequests": [\#(withheld.number)]}"#).status == 200)
            let during = try pullRefs()
            #expect(!during.contains("refs/pull/\(withheld.number)/head "))
            for pull in forkPulls.dropFirst() {
                #expect(during.contains("refs/pull/\(pull.number)/head \(pull.headSha)"))
            }
            #expect(during.split(separator: "\n").count == before.split(separator: "\n").count - 1)
            #expect(try await request(baseURL + "/_sandbox/faults", post: "{}").status == 200)
            #expect(try pullRefs() == before)
        }
    }

    /// GitHub's primary limit: a fixed window per token whose end is `x-ratelimit-reset`; a 304 to
    /// a conditional request made with a token does not count ("Best practices for using the REST
    /// API": conditional requests), one made without does.
    @Test func thePrimaryLimitIsAFixedWindowPerTokenAndAnAuthorized304IsFree() async throws {
        try await withSandbox([("acme/api", 20)]) { api, baseURL in
            var faults = SandboxFaults()
            faults.rateLimitBudget = 3
            faults.rateLimitResetSeconds = 3600
            api.setFaults(faults)
            let url = baseURL + "/repos/acme/api"
            let first = try await get(url, token: "token-a")
            #expect(first.status == 200 && first.remaining == 2)
            let reset = try #require(first.reset)
            let notModified = try await get(url, token: "token-a", etag: first.etag)
            #expect(notModified.status == 304 && notModified.remaining == 2 && notModified.reset == reset)
            #expect(try await get(url, token: "token-a").remaining == 1)
            let last = try await get(url, token: "token-a")
            #expect(last.status == 200 && last.remaining == 0 && last.reset == reset)
            let refused = try await get(url, token: "token-a")
            #expect(refused.status == 403 && refused.remaining == 0 && refused.reset == reset)
            #expect(refused.text.contains("API rate limit exceeded"))
            // Another token has a window of its own.
            #expect(try await get(url, token: "token-b").remaining == 2)
            // Without a token a 304 counts.
            let anonymous = try await get(url, token: nil)
            #expect(try await get(url, token: nil, etag: anonymous.etag).remaining == 1)
            #expect(api.currentStats.primaryRateLimited == 1)
        }
    }

    /// Secondary limits as GitHub sends them: 403 or 429, with or without retry-after, GitHub's
    /// message; the token stays limited, and every request on it meanwhile is refused and counted.
    @Test func aSecondaryLimitAnswers403Or429WithAndWithoutRetryAfterAndRefusesTheTokenUntilItEnds() async throws {
        try await withSandbox([("acme/api", 20)]) { api, baseURL in
            var faults = SandboxFaults()
            faults.secondaryRateLimitEvery = 1
            faults.secondaryRateLimitSeconds = 3600
            api.setFaults(faults)
            let url = baseURL + "/repos/acme/api"
            var answers: [(Int, String?)] = []
            for token in ["t1", "t2", "t3", "t4"] {
                let answer = try await get(url, token: token)
                #expect(answer.text.contains("You have exceeded a secondary rate limit"))
                #expect((answer.remaining ?? 0) > 0)
                answers.append((answer.status, answer.retryAfter))
            }
            #expect(answers.map(\.0) == [403, 429, 403, 429])
            #expect(answers.map { $0.1 != nil } == [true, true, false, false])
            #expect(answers.compactMap(\.1).allSatisfy { (Int($0) ?? 0) > 3000 })
            let again = try await get(url, token: "t1")
            #expect(again.status == 403 && again.retryAfter != nil)
            let stats = api.currentStats
            #expect(stats.secondaryRateLimited == 4)
            #expect(stats.secondaryRefused == 5)
        }
    }

    /// `created` compares instants, as GitHub's search syntax does: a date-time with an offset is
    /// the same moment in UTC, and a bare date is the whole day.
    @Test func theCreatedFilterComparesDatesNotStrings() async throws {
        try await withSandbox([("acme/api", 60)]) { api, baseURL in
            let runs = try #require(api.world.repository("acme/api")).runs
            let parse = { (text: String) in try Date(text, strategy: .iso8601) }
            let pivot = runs[runs.count / 2]
            let pivotDate = try parse(pivot.created_at)
            // The pivot's instant written with a +14:00 offset: as a string it sorts after the runs of the next 14 hours.
            let formatter = ISO8601DateFormatter()
            formatter.timeZone = TimeZone(secondsFromGMT: 14 * 3600)
            let shifted = formatter.string(from: pivotDate)
            #expect(shifted.hasSuffix("+14:00"))
            let expectedUpTo = try runs.filter { try parse($0.created_at) <= pivotDate }.count
            let upTo = try await request(baseURL + "/repos/acme/api/actions/runs?per_page=1&created=%3C%3D" + shifted.replacingOccurrences(of: "+", with: "%2B")).json()
            #expect(upTo["total_count"] as? Int == expectedUpTo)
            let day = String(pivot.created_at.prefix(10))
            let expectedDay = runs.filter { $0.created_at.hasPrefix(day) }.count
            let onDay = try await request(baseURL + "/repos/acme/api/actions/runs?per_page=1&created=\(day)").json()
            #expect(onDay["total_count"] as? Int == expectedDay)
            let expectedFrom = try runs.filter { try parse($0.created_at) >= pivotDate }.count
            let from = try await request(baseURL + "/repos/acme/api/actions/runs?per_page=1&created=" + shifted.replacingOccurrences(of: "+", with: "%2B") + "..*").json()
            #expect(from["total_count"] as? Int == expectedFrom)
        }
    }

    @Test func aForkPullRequestsHeadIsOnlyUnderItsPullRefAndItsPatchReplaysIt() async throws {
        try await withSandbox([("acme/api", 300)]) { api, baseURL in
            let repository = try #require(api.world.repository("acme/api"))
            let run = try #require(repository.runs.first { $0.head_repository?.fork == true })
            #expect(run.event == "pull_request")
            #expect(run.pull_requests.isEmpty)
            let pull = try #require(repository.pulls.first { $0.headSha == run.head_sha })
            #expect(run.head_repository?.full_name == pull.headRepository)

            // The base repository holds the commit under refs/pull/N/head only; its parent is on main.
            let base = repository.gitPath
            #expect(try git(["--git-dir", base, "for-each-ref", "--contains", run.head_sha, "--format=%(refname)"]) == "refs/pull/\(pull.number)/head\n")
            #expect(try git(["--git-dir", base, "merge-base", "--is-ancestor", run.head_sha + "^", "main"]) == "")
            let fork = try await request(baseURL + "/repos/\(pull.headRepository)").json()
            #expect(fork["fork"] as? Bool == true)
            #expect((fork["parent"] as? [String: Any])?["full_name"] as? String == "acme/api")
            let forkPath = try #require((fork["clone_url"] as? String)?.replacingOccurrences(of: "file://", with: ""))
            #expect(try git(["--git-dir", forkPath, "branch", "--contains", run.head_sha]).contains(pull.headRef))

            let clone = FileManager.default.temporaryDirectory.appendingPathComponent("clone-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: clone) }
            try git(["clone", "--quiet", "file://\(base)", clone])
            try git(["-C", clone, "fetch", "--quiet", "origin", "refs/pull/\(pull.number)/head"])

            // Withheld: the pull ref is gone, but GitHub still serves the commit and its patch.
            #expect(try await request(baseURL + "/_sandbox/faults", post: #"{"withholdPullRefs": true}"#).status == 200)
            let refused = #expect(throws: SandboxError.self) { try git(["-C", clone, "fetch", "--quiet", "origin", "refs/pull/\(pull.number)/head"]) }
            #expect(refused?.description.contains("couldn't find remote ref refs/pull/\(pull.number)/head") == true, "\(String(describing: refused))")
            #expect(try git(["--git-dir", base, "for-each-ref", "--contains", run.head_sha]).isEmpty)
            let commit = try await request(baseURL + "/repos/acme/api/commits/\(run.head_sha)").json()
            let parent = try #require((commit["parents"] as? [[String: Any]])?.first?["sha"] as? String)
            let tree = try #require((commit["commit"] as? [String: Any]).flatMap { $0["tree"] as? [String: Any] }?["sha"] as? String)
            let patch = try await request(baseURL + "/repos/acme/api/commits/\(run.head_sha)", accept: "application/vnd.github.patch")
            #expect(patch.status == 200)
            #expect(patch.text.hasPrefix("From \(run.head_sha) "))
            let patchFile = clone + "/../\(UUID().uuidString).patch"
            try patch.body.write(to: URL(fileURLWithPath: patchFile))
            defer { try? FileManager.default.removeItem(atPath: patchFile) }
            try git(["-C", clone, "checkout", "--quiet", parent])
            try git(["-C", clone, "-c", "user.name=Replay", "-c", "user.email=replay@example.org", "am", "--quiet", patchFile])
            #expect(try git(["-C", clone, "rev-parse", "HEAD^{tree}"]) == tree + "\n")

            #expect(try await request(baseURL + "/_sandbox/faults", post: #"{"withholdPullRefs": false}"#).status == 200)
            try git(["-C", clone, "fetch", "--quiet", "origin", "refs/pull/\(pull.number)/head"])
            #expect(try git(["-C", clone, "rev-parse", "FETCH_HEAD"]) == run.head_sha + "\n")
        }
    }

    @Test func commitsComparisonsAndPullRequestsAnswerInGitHubsFormat() async throws {
        try await withSandbox([("acme/api", 300)]) { api, baseURL in
            let repository = try #require(api.world.repository("acme/api"))
            let gitDir = repository.gitPath
            let merge = try git(["--git-dir", gitDir, "rev-list", "--merges", "-1", "main"]).trimmingCharacters(in: .newlines)
            let mergeJSON = try await request(baseURL + "/repos/acme/api/commits/\(merge)").json()
            #expect((mergeJSON["parents"] as? [Any])?.count == 2)
            let rename = try git(["--git-dir", gitDir, "log", "-M", "--diff-filter=R", "--format=%H", "-1", "main"]).trimmingCharacters(in: .newlines)
            let files = try #require(try await request(baseURL + "/repos/acme/api/commits/\(rename)").json()["files"] as? [[String: Any]])
            #expect(files.contains { $0["status"] as? String == "renamed" && $0["previous_filename"] is String })
            let stats = try #require(try await request(baseURL + "/repos/acme/api/commits/\(rename)").json()["stats"] as? [String: Int])
            #expect(stats["total"] == files.reduce(0) { $0 + ($1["changes"] as? Int ?? 0) })
            #expect(try await request(baseURL + "/repos/acme/api/commits/\(String(repeating: "0", count: 40))").status == 422)
            let diff = try await request(baseURL + "/repos/acme/api/commits/\(rename)", accept: "application/vnd.github.diff")
            #expect(diff.text.hasPrefix("diff --git "))

            let first = try git(["--git-dir", gitDir, "rev-parse", merge + "^1"]).trimmingCharacters(in: .newlines)
            let second = try git(["--git-dir", gitDir, "rev-parse", merge + "^2"]).trimmingCharacters(in: .newlines)
            let ahead = try await request(baseURL + "/repos/acme/api/compare/\(first)...\(second)").json()
            #expect(ahead["status"] as? String == "ahead")
            #expect(ahead["ahead_by"] as? Int == (ahead["commits"] as? [Any])?.count)
            #expect(try await request(baseURL + "/repos/acme/api/compare/\(second)...\(first)").json()["status"] as? String == "behind")
            #expect(try await request(baseURL + "/repos/acme/api/compare/\(first)...\(first)").json()["status"] as? String == "identical")
            let forkHead = try #require(repository.pulls.first { $0.fromFork }?.headSha)
            let diverged = try await request(baseURL + "/repos/acme/api/compare/main...\(forkHead)").json()
            #expect(diverged["status"] as? String == "diverged")
            #expect(diverged["ahead_by"] as? Int == 1)

            let page = try await request(baseURL + "/repos/acme/api/pulls?state=all&per_page=10")
            #expect(try page.list().count == 10)
            #expect(page.headers["link"]?.contains("rel=\"next\"") == true)
            let numbers = try page.list().compactMap { $0["number"] as? Int }
            #expect(numbers == numbers.sorted(by: >))
            let open = try await request(baseURL + "/repos/acme/api/pulls?per_page=100").list()
            #expect(open.allSatisfy { $0["state"] as? String == "open" })
            let forkPull = try #require(repository.pulls.first { $0.fromFork })
            let single = try await request(baseURL + "/repos/acme/api/pulls/\(forkPull.number)").json()
            let head = try #require(single["head"] as? [String: Any])
            #expect(head["sha"] as? String == forkPull.headSha)
            #expect((head["repo"] as? [String: Any])?["full_name"] as? String == forkPull.headRepository)
            #expect(single["changed_files"] as? Int ?? 0 >= 1)
            #expect(single["additions"] as? Int ?? 0 >= 1)
            #expect(single["merged_at"] == nil)
        }
    }

    @Test func theSameSeedGivesTheSameWorld() async throws {
        var heads: [String?] = []
        for _ in 0..<2 {
            heads.append(try await offThePool {
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-\(UUID().uuidString)").path
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let world = SandboxWorld(directory: directory, seed: 5)
                try world.addRepository(owner: "acme", name: "same", commits: 150)
                guard let repository = world.repository("acme/same") else { return nil }
                return try git(["--git-dir", repository.gitPath, "rev-parse", "main"]) + repository.runs.map { "\($0.id) \($0.head_sha) \($0.conclusion ?? "")" }.joined()
            })
        }
        #expect(heads[0] != nil)
        #expect(heads[0] == heads[1])
    }

    /// The entry names in a zip's central directory; nil when it has none (a truncated download).
    static func zipEntryNames(_ data: Data) -> [String]? {
        let bytes = [UInt8](data)
        func uint(_ offset: Int, _ size: Int) -> Int { (0..<size).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) } }
        guard bytes.count >= 22, let end = stride(from: bytes.count - 22, through: 0, by: -1).first(where: { uint($0, 4) == 0x0605_4b50 }) else { return nil }
        var offset = uint(end + 16, 4)
        var names: [String] = []
        for _ in 0..<uint(end + 10, 2) {
            guard offset + 46 <= bytes.count, uint(offset, 4) == 0x0201_4b50 else { return nil }
            let length = uint(offset + 28, 2)
            guard offset + 46 + length <= bytes.count else { return nil }
            names.append(String(decoding: bytes[(offset + 46)..<(offset + 46 + length)], as: UTF8.self))
            offset += 46 + length + uint(offset + 30, 2) + uint(offset + 32, 2)
        }
        return names
    }
}
