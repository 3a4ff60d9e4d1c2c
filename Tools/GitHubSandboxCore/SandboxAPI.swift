import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFoundationCompat
import Synchronization

/// Faults the emulator injects, settable at run time (`POST /_sandbox/faults`; keys left out take their defaults).
public struct SandboxFaults: Codable, Sendable {
    /// Share of API requests answered 500/502/503.
    public var errorRate: Double = 0
    /// Share of API requests delayed by `slowMilliseconds`.
    public var slowRate: Double = 0
    public var slowMilliseconds: Int = 0
    /// Requests a token may make per window before GitHub's primary limit answers 403 (0 = 5,000).
    public var rateLimitBudget: Int = 0
    /// Length of a token's fixed rate-limit window, from its first request; `x-ratelimit-reset` is its end.
    public var rateLimitResetSeconds: Int = 2
    /// Every Nth API request puts its token under a secondary rate limit for `secondaryRateLimitSeconds`,
    /// and every request on that token meanwhile is refused too. The answers take turns: 403 with
    /// `retry-after`, 429 with it, 403 without, 429 without (GitHub sends either status, with or without
    /// the header); 0 = never.
    public var secondaryRateLimitEvery: Int = 0
    public var secondaryRateLimitSeconds: Int = 1
    /// Share of run-log zips whose connection breaks halfway through the body (the head promised it all).
    public var truncatedZipRate: Double = 0
    /// A pause in the middle of a log download's body (zip or job text), after the head and half the body.
    public var slowLogMilliseconds: Int?
    /// Share of log downloads that pause `slowLogMilliseconds` (1 = all).
    public var slowLogRate: Double = 1
    /// Share of log downloads answered 500, 502 or 503 by the blob store.
    public var logErrorRate: Double = 0
    /// The first N downloads of every run's zip fail, in turn a 503 and a connection broken mid-body
    /// (deterministic, for tests); 0 = none.
    public var logFaultsPerRun: Int = 0
    /// Runs created this many days before the repository's newest run have expired logs (410); 0 = logs never expire.
    /// Measured from the newest run, not from today: the generated histories start in November 2023.
    public var logRetentionDays: Int = 90
    /// How long a log download URL stays valid (GitHub's signed URLs: one minute).
    public var logURLSeconds: Int = 60
    /// Deletes the `refs/pull/N/head` refs of fork pull requests from the base repositories (restored when false).
    public var withholdPullRefs: Bool = false
    /// Withholds only these fork pull requests' refs (by number, in every base repository); the others keep theirs.
    public var withheldPullRequests: [Int] = []

    public init() {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SandboxFaults()
        errorRate = try container.decodeIfPresent(Double.self, forKey: .errorRate) ?? defaults.errorRate
        slowRate = try container.decodeIfPresent(Double.self, forKey: .slowRate) ?? defaults.slowRate
        slowMilliseconds = try container.decodeIfPresent(Int.self, forKey: .slowMilliseconds) ?? defaults.slowMilliseconds
        rateLimitBudget = try container.decodeIfPresent(Int.self, forKey: .rateLimitBudget) ?? defaults.rateLimitBudget
        rateLimitResetSeconds = try container.decodeIfPresent(Int.self, forKey: .rateLimitResetSeconds) ?? defaults.rateLimitResetSeconds
        secondaryRateLimitEvery = try container.decodeIfPresent(Int.self, forKey: .secondaryRateLimitEvery) ?? defaults.secondaryRateLimitEvery
        secondaryRateLimitSeconds = try container.decodeIfPresent(Int.self, forKey: .secondaryRateLimitSeconds) ?? defaults.secondaryRateLimitSeconds
        truncatedZipRate = try container.decodeIfPresent(Double.self, forKey: .truncatedZipRate) ?? defaults.truncatedZipRate
        slowLogMilliseconds = try container.decodeIfPresent(Int.self, forKey: .slowLogMilliseconds)
        slowLogRate = try container.decodeIfPresent(Double.self, forKey: .slowLogRate) ?? defaults.slowLogRate
        logErrorRate = try container.decodeIfPresent(Double.self, forKey: .logErrorRate) ?? defaults.logErrorRate
        logFaultsPerRun = try container.decodeIfPresent(Int.self, forKey: .logFaultsPerRun) ?? defaults.logFaultsPerRun
        logRetentionDays = try container.decodeIfPresent(Int.self, forKey: .logRetentionDays) ?? defaults.logRetentionDays
        logURLSeconds = try container.decodeIfPresent(Int.self, forKey: .logURLSeconds) ?? defaults.logURLSeconds
        withholdPullRefs = try container.decodeIfPresent(Bool.self, forKey: .withholdPullRefs) ?? defaults.withholdPullRefs
        withheldPullRequests = try container.decodeIfPresent([Int].self, forKey: .withheldPullRequests) ?? defaults.withheldPullRequests
    }
}

/// Counts of what the emulator answered (`GET /_sandbox/stats`).
public struct SandboxStats: Codable, Sendable {
    public var requests = 0
    public var notModified = 0
    public var serverErrors = 0
    /// Requests refused because their token's primary budget was spent.
    public var primaryRateLimited = 0
    /// Times a token spent its whole primary budget (a client that reads the headers then rests it).
    public var budgetsSpent = 0
    /// Secondary rate limits triggered.
    public var secondaryRateLimited = 0
    /// Requests refused for a secondary rate limit: the one that triggered it, and every one sent on
    /// the token before the limit ended (a client that rests the token sends none of those).
    public var secondaryRefused = 0
    /// Log downloads served from the short-lived URLs (zips and job texts).
    public var logDownloads = 0
    /// Log downloads answered 5xx.
    public var logErrors = 0
    /// Zip downloads whose connection was broken mid-body.
    public var truncatedZips = 0
    /// Log downloads that paused mid-body.
    public var stalledLogs = 0
    /// Log requests answered 410 because the run's logs expired.
    public var expiredLogs = 0
    /// Downloads refused because the URL had expired or was not one the sandbox signed.
    public var refusedLogURLs = 0
    /// Commits answered as a patch or diff (`Accept: application/vnd.github.patch` / `.diff`).
    public var patches = 0
    /// Git smart-HTTP requests the git host served (ref advertisements and upload-packs).
    public var gitRequests = 0
    /// Git requests the git host refused: a private repository without a granted token, or an unknown one.
    public var gitRefused = 0
}

/// GitHub's REST API over a ``SandboxWorld``, in GitHub's documented formats: Link pagination
/// (`per_page` ≤ 100), the 1,000-result cap on filtered run listings, ETag/If-None-Match with 304,
/// `x-ratelimit-*` headers, 403/429 with `retry-after` for secondary limits, 404 for unknown repositories;
/// run jobs and logs (302 to short-lived URLs, 410 past retention), commits (JSON, patch, diff),
/// comparisons and pull requests.
public final class SandboxAPI: Sendable {
    public let world: SandboxWorld
    let faults = Mutex(SandboxFaults())
    let stats = Mutex(SandboxStats())
    /// Per token: requests used in the current fixed window, and the window's end.
    let budgets = Mutex<[String: (used: Int, windowEnd: Date)]>([:])
    /// Per token under a secondary limit: its end and how it is answered.
    let secondaryLimits = Mutex<[String: (until: Date, status: HTTPResponse.Status, retryAfter: Bool)]>([:])
    /// Per run: zip downloads so far, for `logFaultsPerRun`.
    let runDownloads = Mutex<[Int64: Int]>([:])
    let random = Mutex(SeededRandom(seed: 42))
    /// Signs the short-lived log URLs; new per process, so URLs from an earlier start are refused.
    let blobKey = SymmetricKey(size: .bits256)
    let pullStats = Mutex<[String: (additions: Int, deletions: Int, files: Int)]>([:])
    /// Where the git host serves clones (`https://host`); nil: `clone_url` is a `file://` path.
    let cloneBaseURL = Mutex<String?>(nil)
    /// Tokens that may clone private repositories from the git host.
    let cloneTokens = Mutex<Set<String>>([])

    public init(world: SandboxWorld) {
        self.world = world
    }

    /// Sets the faults; for tests (`POST /_sandbox/faults` calls ``applyFaults(_:)``, which reports git failures).
    public func setFaults(_ value: SandboxFaults) { try? applyFaults(value) }

    /// Sets the faults and withholds or restores the fork pull refs to match.
    public func applyFaults(_ value: SandboxFaults) throws {
        faults.withLock { $0 = value }
        try world.setPullRefsWithheld(value.withholdPullRefs, only: Set(value.withheldPullRequests))
    }
    public var currentStats: SandboxStats { stats.withLock { $0 } }

    /// The router serving the API; `baseURL` is how clients reach it (for Link headers).
    public func router(baseURL: String) -> Router<BasicRequestContext> {
        let router = Router()
        let api = router.group().add(middleware: GitHubBehaviour(api: self)).add(middleware: MovedRepositories(api: self, baseURL: baseURL))
        api.get("/repos/{owner}/{repo}") { request, context in
            guard let repository = self.repository(context) else { return Self.notFound() }
            return self.conditional(request, Self.encode(self.repositoryJSON(repository, baseURL: baseURL)), headers: [.contentType: "application/json; charset=utf-8"])
        }
        api.get("/orgs/{org}/repos") { _, context in
            let org = context.parameters.get("org") ?? ""
            let repositories = self.world.repositories.filter { $0.owner.lowercased() == org.lowercased() }
            if repositories.isEmpty { return Self.notFound() }
            return Self.json(repositories.map { self.repositoryJSON($0, baseURL: baseURL) })
        }
        api.get("/repos/{owner}/{repo}/actions/runs") { request, context in
            guard let repository = self.repository(context) else { return Self.notFound() }
            return self.listRuns(repository, request: request, baseURL: baseURL)
        }
        api.get("/repos/{owner}/{repo}/actions/runs/{id}") { _, context in
            guard let repository = self.repository(context), let id = context.parameters.get("id", as: Int64.self),
                let run = repository.runs.first(where: { $0.id == id })
            else { return Self.notFound() }
            return Self.json(run)
        }
        // A moved repository by its id, where the 301 of its old name points.
        api.get("/repositories/{repositoryId}") { request, context in
            guard let repository = context.parameters.get("repositoryId", as: Int64.self).flatMap(self.world.repository(id:)) else { return Self.notFound() }
            return self.conditional(request, Self.encode(self.repositoryJSON(repository, baseURL: baseURL)), headers: [.contentType: "application/json; charset=utf-8"])
        }
        api.get("/repositories/{repositoryId}/actions/runs") { request, context in
            guard let repository = context.parameters.get("repositoryId", as: Int64.self).flatMap(self.world.repository(id:)) else { return Self.notFound() }
            return self.listRuns(repository, request: request, baseURL: baseURL)
        }
        api.get("/repositories/{repositoryId}/actions/runs/{id}") { _, context in
            guard let repository = context.parameters.get("repositoryId", as: Int64.self).flatMap(self.world.repository(id:)),
                let id = context.parameters.get("id", as: Int64.self), let run = repository.runs.first(where: { $0.id == id })
            else { return Self.notFound() }
            return Self.json(run)
        }
        addLogRoutes(to: router, api: api, baseURL: baseURL)
        addGitRoutes(to: api, baseURL: baseURL)
        // Sandbox controls (not GitHub's API).
        router.post("/_sandbox/faults") { request, context in
            let value = try await request.decode(as: SandboxFaults.self, context: context)
            try self.applyFaults(value)
            return Self.json(value)
        }
        router.get("/_sandbox/stats") { _, _ in Self.json(self.currentStats) }
        router.post("/_sandbox/repos") { request, context in
            struct NewRepository: Decodable { var fullName: String; var commits: Int; var language: String? }
            let spec = try await request.decode(as: NewRepository.self, context: context)
            let parts = spec.fullName.split(separator: "/").map(String.init)
            guard parts.count == 2, (1...20_000).contains(spec.commits) else {
                return Self.json(["message": "expected {fullName: owner/name, commits: 1...20000}"], status: .badRequest)
            }
            if self.world.repository(spec.fullName) != nil {
                return Self.json(["message": "\(spec.fullName) exists"], status: .conflict)
            }
            try self.world.addRepository(owner: parts[0], name: parts[1], commits: spec.commits, language: spec.language ?? "Swift")
            return Self.json(["runs": self.world.repository(spec.fullName)?.runs.count ?? 0], status: .created)
        }
        router.post("/_sandbox/repos/{owner}/{repo}/activity") { request, context in
            struct Activity: Decodable { var commits: Int }
            let activity = try await request.decode(as: Activity.self, context: context)
            let fullName = "\(context.parameters.get("owner") ?? "")/\(context.parameters.get("repo") ?? "")"
            try self.world.addActivity(fullName: fullName, commits: activity.commits)
            return Self.json(["runs": self.world.repository(fullName)?.runs.count ?? 0])
        }
        return router
    }

    func repository(_ context: BasicRequestContext) -> SandboxRepository? {
        world.repository("\(context.parameters.get("owner") ?? "")/\(context.parameters.get("repo") ?? "")")
    }

    private func repositoryJSON(_ repository: SandboxRepository, baseURL: String) -> RepositoryJSON {
        let parent = repository.parent.flatMap(world.repository).map {
            RepositoryJSON.Parent(id: $0.id, name: $0.name, full_name: $0.fullName, clone_url: cloneURL($0))
        }
        return RepositoryJSON(
            id: repository.id, name: repository.name, full_name: repository.fullName,
            owner: .init(login: repository.owner, type: parent == nil ? "Organization" : "User"), private: repository.isPrivate,
            default_branch: repository.defaultBranch, language: repository.language,
            created_at: SandboxWorld.iso(repository.createdAt),
            clone_url: cloneURL(repository), html_url: "https://github.com/\(repository.fullName)",
            url: "\(baseURL)/repos/\(repository.fullName)", fork: parent != nil, parent: parent, source: parent)
    }

    private func listRuns(_ repository: SandboxRepository, request: Request, baseURL: String) -> Response {
        let query = request.uri.queryParameters
        let perPage = min(max(query.get("per_page", as: Int.self) ?? 30, 1), 100)
        let page = max(query.get("page", as: Int.self) ?? 1, 1)
        var runs = repository.runs
        var filtered = false
        if let status = query.get("status") {
            filtered = true
            runs = runs.filter { status == "completed" ? $0.status == "completed" : ($0.status == status || $0.conclusion == status) }
        }
        if let event = query.get("event") {
            filtered = true
            runs = runs.filter { $0.event == event }
        }
        if let branch = query.get("branch") {
            filtered = true
            runs = runs.filter { $0.head_branch == branch }
        }
        if let created = query.get("created") {
            filtered = true
            runs = runs.filter { Self.matches(created: $0.created_at, filter: created) }
        }
        let total = runs.count
        // GitHub returns at most 1,000 results for listings filtered by actor, branch, created,
        // event, head_sha or status; total_count still says how many there are.
        let reachable = filtered ? min(total, 1000) : total
        let start = (page - 1) * perPage
        let slice = start < reachable ? Array(runs[start..<min(start + perPage, reachable)]) : []
        let data = Self.encode(RunList(total_count: total, workflow_runs: slice))
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        let lastPage = max(1, (reachable + perPage - 1) / perPage)
        headers[.link] = Self.links(baseURL + "/repos/\(repository.fullName)/actions/runs", query: query, page: page, lastPage: lastPage)
        return conditional(request, data, headers: headers)
    }

    /// One page (`page`, `per_page`, at most 100) of a listing, with GitHub's Link header.
    func page<T: Encodable>(_ items: [T], request: Request, url: String) -> Response {
        let query = request.uri.queryParameters
        let perPage = min(max(query.get("per_page", as: Int.self) ?? 30, 1), 100)
        let page = max(query.get("page", as: Int.self) ?? 1, 1)
        let start = min((page - 1) * perPage, items.count)
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        headers[.link] = Self.links(url, query: query, page: page, lastPage: max(1, (items.count + perPage - 1) / perPage))
        return conditional(request, Self.encode(Array(items[start..<min(start + perPage, items.count)])), headers: headers)
    }

    /// GitHub's Link header (`next`, `last`, `first`, `prev`) for page `page` of `lastPage`; nil on a single page.
    static func links(_ url: String, query: Parameters, page: Int, lastPage: Int) -> String? {
        var links: [String] = []
        func link(_ number: Int, _ relation: String) -> String {
            var items = query.filter { $0.key != "page" }.map { "\($0.key)=\($0.value)" }
            items.append("page=\(number)")
            return "<\(url)?\(items.sorted().joined(separator: "&"))>; rel=\"\(relation)\""
        }
        if page < lastPage { links += [link(page + 1, "next"), link(lastPage, "last")] }
        if page > 1 { links += [link(1, "first"), link(page - 1, "prev")] }
        return links.isEmpty ? nil : links.joined(separator: ", ")
    }

    /// Answers 304 when the client's If-None-Match names the body's ETag, as GitHub does.
    func conditional(_ request: Request, _ data: Data, headers: HTTPFields) -> Response {
        let etag = "W/\"" + SHA256.hash(data: data).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
        if request.headers[.ifNoneMatch] == etag {
            stats.withLock { $0.notModified += 1 }
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        var headers = headers
        headers[.eTag] = etag
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }

    /// Stable JSON (sorted keys), so an unchanged resource keeps its ETag.
    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data()
    }

    /// `created` filters as GitHub's search syntax reads them: `>=D`, `>D`, `<=D`, `<D`, `D..D`
    /// (`*` for an open end) and `D`, where D is a date (a whole UTC day) or a date-time with or
    /// without an offset. Compared as instants, so `2024-01-05T10:00:00+02:00` is 08:00 UTC; an
    /// unreadable filter matches nothing.
    static func matches(created: String, filter: String) -> Bool {
        guard let instant = parseInstant(created) else { return false }
        /// The span a filter's date covers: a whole UTC day for a date, one second for a date-time.
        func span(_ text: Substring) -> (start: Date, end: Date)? {
            let text = String(text)
            if !text.contains("T"), let day = try? Date(text + "T00:00:00Z", strategy: .iso8601) {
                return (day, day.addingTimeInterval(86_400))
            }
            return parseInstant(text).map { ($0, $0.addingTimeInterval(1)) }
        }
        if filter.hasPrefix(">=") { return span(filter.dropFirst(2)).map { instant >= $0.start } ?? false }
        if filter.hasPrefix("<=") { return span(filter.dropFirst(2)).map { instant < $0.end } ?? false }
        if filter.hasPrefix(">") { return span(filter.dropFirst(1)).map { instant >= $0.end } ?? false }
        if filter.hasPrefix("<") { return span(filter.dropFirst(1)).map { instant < $0.start } ?? false }
        if let range = filter.range(of: "..") {
            let lower = filter[..<range.lowerBound], upper = filter[range.upperBound...]
            let afterLower = lower == "*" ? true : span(lower).map { instant >= $0.start }
            let beforeUpper = upper == "*" ? true : span(upper).map { instant < $0.end }
            return (afterLower ?? false) && (beforeUpper ?? false)
        }
        return span(filter[...]).map { instant >= $0.start && instant < $0.end } ?? false
    }

    private static func parseInstant(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        // A date-time without an offset is UTC.
        return try? Date(text + "Z", strategy: .iso8601)
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = encode(value)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }

    static func notFound() -> Response {
        json(["message": "Not Found", "documentation_url": "https://docs.github.com/rest"], status: .notFound)
    }

    func roll() -> Double { random.withLock { $0.next() } }
}

struct RepositoryJSON: Codable {
    struct Owner: Codable { var login: String; var type: String }
    var id: Int64
    var name: String
    var full_name: String
    var owner: Owner
    var `private`: Bool
    var default_branch: String
    var language: String
    var created_at: String
    var clone_url: String
    var html_url: String
    var url: String
    var fork: Bool
    /// A fork's parent; GitHub also names the network's root as `source`, here always the parent.
    var parent: Parent?
    var source: Parent?

    struct Parent: Codable {
        var id: Int64
        var name: String
        var full_name: String
        var clone_url: String
    }
}

struct RunList: Codable {
    var total_count: Int
    var workflow_runs: [SandboxRun]
}

extension HTTPField.Name {
    static let link = Self("Link")!
    static let rateLimitLimit = Self("x-ratelimit-limit")!
    static let rateLimitRemaining = Self("x-ratelimit-remaining")!
    static let rateLimitReset = Self("x-ratelimit-reset")!
    static let rateLimitUsed = Self("x-ratelimit-used")!
}

/// A renamed or transferred repository: GitHub answers its old name with `301 Moved Permanently`,
/// `Location: <api>/repositories/{id}` plus the rest of the path, and a JSON body naming the URL
/// (docs.github.com, "Follow redirects" in the REST API best practices).
struct MovedRepositories: RouterMiddleware {
    let api: SandboxAPI
    let baseURL: String

    func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        guard let owner = context.parameters.get("owner"), let name = context.parameters.get("repo"),
            let id = api.world.movedRepository("\(owner)/\(name)")
        else { return try await next(request, context) }
        let prefix = "/repos/\(owner)/\(name)"
        let path = request.uri.path
        var location = baseURL + "/repositories/\(id)" + (path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : "")
        if let query = request.uri.query, !query.isEmpty { location += "?" + query }
        let body = #"{"message":"Moved Permanently","url":"\#(location)","documentation_url":"https://docs.github.com/v3/#http-redirects"}"#
        return Response(
            status: .movedPermanently, headers: [.location: location, .contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Rate limits, faults and the rate-limit headers on every API response.
struct GitHubBehaviour: RouterMiddleware {
    let api: SandboxAPI

    func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        let faults = api.faults.withLock { $0 }
        let count = api.stats.withLock { stats -> Int in
            stats.requests += 1
            return stats.requests
        }
        if faults.slowRate > 0, api.roll() < faults.slowRate {
            try await Task.sleep(for: .milliseconds(faults.slowMilliseconds))
        }
        let token = request.headers[.authorization].map { $0.split(separator: " ").last.map(String.init) ?? $0 } ?? "anonymous"
        let limit = faults.rateLimitBudget > 0 ? faults.rateLimitBudget : 5000
        let now = Date()
        // A token under a secondary limit is refused until the limit ends; GitHub warns that
        // requests sent meanwhile may get an integration banned, so they are counted.
        if let current = api.secondaryLimits.withLock({ $0[token] }), current.until > now {
            api.stats.withLock { $0.secondaryRefused += 1 }
            return Self.secondaryLimit(current.status, retryAfter: current.retryAfter ? current.until.timeIntervalSince(now) : nil, rateHeaders: rateHeaders(token, limit: limit, now: now))
        }
        // A fixed window per token from its first request; GitHub's `x-ratelimit-reset` is the window's end.
        let (used, windowEnd) = api.budgets.withLock { budgets -> (Int, Date) in
            var entry = budgets[token] ?? (0, now.addingTimeInterval(Double(faults.rateLimitResetSeconds)))
            if entry.windowEnd <= now { entry = (0, now.addingTimeInterval(Double(faults.rateLimitResetSeconds))) }
            if entry.used < limit {
                entry.used += 1
                if entry.used == limit { api.stats.withLock { $0.budgetsSpent += 1 } }
            } else {
                entry.used = limit + 1
            }
            budgets[token] = entry
            return (entry.used, entry.windowEnd)
        }
        var headers = Self.rateHeaders(limit: limit, used: min(used, limit), reset: windowEnd)
        if used > limit {
            api.stats.withLock { $0.primaryRateLimited += 1 }
            headers[.contentType] = "application/json"
            return Response(status: .forbidden, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string:
                #"{"message":"API rate limit exceeded for user. (But here's the good news: Authenticated requests get a higher rate limit.)","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}"#)))
        }
        if faults.secondaryRateLimitEvery > 0, count % faults.secondaryRateLimitEvery == 0 {
            let triggered = api.stats.withLock { stats -> Int in
                stats.secondaryRateLimited += 1
                stats.secondaryRefused += 1
                return stats.secondaryRateLimited
            }
            // In turn: 403 with retry-after, 429 with, 403 without, 429 without.
            let status: HTTPResponse.Status = triggered % 2 == 1 ? .forbidden : .tooManyRequests
            let retryAfter = (triggered - 1) % 4 < 2
            let seconds = Double(max(faults.secondaryRateLimitSeconds, 1))
            api.secondaryLimits.withLock { $0[token] = (now.addingTimeInterval(seconds), status, retryAfter) }
            return Self.secondaryLimit(status, retryAfter: retryAfter ? seconds : nil, rateHeaders: headers)
        }
        if faults.errorRate > 0, api.roll() < faults.errorRate {
            api.stats.withLock { $0.serverErrors += 1 }
            let statuses: [HTTPResponse.Status] = [.internalServerError, .badGateway, .serviceUnavailable]
            return Response(status: statuses[count % 3], headers: headers)
        }
        var response = try await next(request, context)
        if response.status == .notModified, token != "anonymous" {
            // "Making a conditional request does not count against your primary rate limit if a
            // 304 response is returned and the request was made while correctly authorized."
            let used = api.budgets.withLock { budgets -> Int in
                guard var entry = budgets[token], entry.windowEnd == windowEnd else { return used }
                if entry.used == limit { api.stats.withLock { $0.budgetsSpent -= 1 } }
                entry.used = max(entry.used - 1, 0)
                budgets[token] = entry
                return entry.used
            }
            headers = Self.rateHeaders(limit: limit, used: used, reset: windowEnd)
        }
        for field in headers { response.headers[field.name] = field.value }
        return response
    }

    /// The token's current rate-limit headers, without counting a request.
    private func rateHeaders(_ token: String, limit: Int, now: Date) -> HTTPFields {
        let entry = api.budgets.withLock { $0[token] }
        guard let entry, entry.windowEnd > now else { return Self.rateHeaders(limit: limit, used: 0, reset: now) }
        return Self.rateHeaders(limit: limit, used: min(entry.used, limit), reset: entry.windowEnd)
    }

    static func rateHeaders(limit: Int, used: Int, reset: Date) -> HTTPFields {
        [
            .rateLimitLimit: String(limit),
            .rateLimitRemaining: String(max(0, limit - used)),
            .rateLimitReset: String(Int(reset.timeIntervalSince1970.rounded(.up))),
            .rateLimitUsed: String(used),
        ]
    }

    /// GitHub's answer to a request over a secondary rate limit (403 or 429, its message, and
    /// `retry-after` when it says how long).
    static func secondaryLimit(_ status: HTTPResponse.Status, retryAfter: Double?, rateHeaders: HTTPFields) -> Response {
        var headers = rateHeaders
        if let retryAfter { headers[.retryAfter] = String(Int(retryAfter.rounded(.up))) }
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string:
            #"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"\#(status.code)"}"#)))
    }
}
