import AsyncHTTPClient
import BuildRiskContracts
import Foundation
import Logging
import ServiceLifecycle
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Synchronization

/// Where GitHub is and with which tokens (`GITHUB_API_URL`, `GITHUB_TOKENS`): api.github.com, a
/// GitHub Enterprise Server's `/api/v3`, or the sandbox.
public struct GitHubConfiguration: Sendable {
    public var baseURL: String
    /// Used in turn; a token whose primary rate limit is spent rests until its reset.
    public var tokens: [String]
    /// The longest the client waits out a rate limit before it fails the request.
    public var maximumRateLimitWait: Duration
    /// How long a token rests after a secondary rate limit that names no `retry-after`
    /// (`GITHUB_SECONDARY_WAIT_SECONDS`); doubled each time the limit repeats. GitHub: "wait for at
    /// least one minute before retrying", then "an exponentially increasing amount of time".
    public var secondaryRateLimitWait: Duration

    public init(baseURL: String = "https://api.github.com", tokens: [String] = [], maximumRateLimitWait: Duration = .seconds(900), secondaryRateLimitWait: Duration = .seconds(60)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.tokens = tokens
        self.maximumRateLimitWait = maximumRateLimitWait
        self.secondaryRateLimitWait = secondaryRateLimitWait
    }

    /// The settings a service that talks to GitHub reads; its definition lists them.
    public static let settings = [apiURLSetting.declaration, tokensSetting.declaration, tokenSetting.declaration, secondaryWaitSetting.declaration]
    static let secondaryWaitSetting: Setting<Duration> = .seconds(
        "GITHUB_SECONDARY_WAIT_SECONDS", default: 60, in: 1...3600,
        meaning: "how long a token rests after a secondary rate limit answered without retry-after (doubled while it repeats)")
    static let apiURLSetting: Setting<String> = .text(
        "GITHUB_API_URL", default: "https://api.github.com",
        meaning: "GitHub's API (a GitHub Enterprise Server's https://HOST/api/v3, or the sandbox)")
    static let tokensSetting = Setting<[String]>(
        "GITHUB_TOKENS", default: [], defaultText: nil, expected: "comma-separated tokens", secret: true,
        meaning: "comma-separated tokens, used in turn; a token whose rate limit is spent rests until its reset"
    ) { text in text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    static let tokenSetting = Setting<[String]>(
        "GITHUB_TOKEN", default: [], defaultText: nil, expected: "a token", secret: true,
        meaning: "one token, read when GITHUB_TOKENS is unset"
    ) { [$0] }

    /// GitHub as `environment` sets it (``settings``); a bad value throws with the variable's name.
    public init(environment: [String: String]) throws {
        let tokens = try Self.tokensSetting.read(environment)
        self.init(
            baseURL: try Self.apiURLSetting.read(environment), tokens: tokens.isEmpty ? try Self.tokenSetting.read(environment) : tokens,
            secondaryRateLimitWait: try Self.secondaryWaitSetting.read(environment))
    }
}

/// Why a GitHub request failed for good.
public enum GitHubError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    /// 422: GitHub understood the request and refuses it (a malformed commit id, for one).
    case unprocessable(String)
    /// 410: GitHub had it and removed it (expired run logs, for one).
    case gone(String)
    case unauthorized(String)
    case unexpected(status: Int, detail: String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .notFound(let what): "GitHub has no \(what) (404)"
        case .gone(let what): "GitHub no longer has \(what) (410)"
        case .unprocessable(let detail): "GitHub refused the request (422): \(detail)"
        case .unauthorized(let detail): "GitHub refused the credentials: \(detail)"
        case .unexpected(let status, let detail): "GitHub answered \(status): \(detail)"
        case .unavailable(let detail): "GitHub unavailable after retries: \(detail)"
        }
    }

    /// Whether trying again later may help.
    public var isRetryable: Bool {
        switch self {
        case .unavailable: true
        default: false
        }
    }
}

/// One GitHub answer.
public struct GitHubResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    public var etag: String? { headers.first(name: "etag") }

    /// The `Link` header's relations (`next`, `last`, …) to URLs.
    public var links: [String: String] {
        var links: [String: String] = [:]
        for part in (headers.first(name: "link") ?? "").split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard pieces.count >= 2, pieces[0].hasPrefix("<"), pieces[0].hasSuffix(">") else { continue }
            for attribute in pieces.dropFirst() where attribute.hasPrefix("rel=") {
                links[attribute.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\""))] = String(pieces[0].dropFirst().dropLast())
            }
        }
        return links
    }
}

/// Requests made and 304s seen, per import.
public final class RequestCounter: Sendable {
    private let counts = Mutex((requests: 0, notModified: 0))
    public init() {}
    func record(status: Int) {
        counts.withLock {
            $0.requests += 1
            if status == 304 { $0.notModified += 1 }
        }
    }
    public var requests: Int { counts.withLock { $0.requests } }
    public var notModified: Int { counts.withLock { $0.notModified } }
}

/// GitHub's REST API as GitHub really behaves: rate limits waited out (primary by
/// `x-ratelimit-reset`, secondary by `retry-after`), several tokens in turn, 5xx and timeouts
/// retried with backoff, ETag conditional requests. Tokens never reach a log line.
public struct GitHubClient: Sendable {
    public let configuration: GitHubConfiguration
    let httpClient: LazyHTTPClient
    let tokens: TokenPool
    let logger: Logger
    let maxAttempts = 6

    public init(configuration: GitHubConfiguration, httpClient: LazyHTTPClient, logger: Logger) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.tokens = TokenPool(tokens: configuration.tokens)
        self.logger = logger
    }

    /// GETs `pathOrURL` (a path under the base URL, or a full URL from a Link header).
    ///
    /// `accept` picks a media type (`application/vnd.github.patch` for a commit as a patch). A
    /// redirect is returned as it is when the HTTP client does not follow redirects (run logs
    /// answer 302 to a short-lived download URL that must be fetched without the token).
    public func get(_ pathOrURL: String, etag: String? = nil, accept: String = "application/vnd.github+json", counter: RequestCounter? = nil) async throws -> GitHubResponse {
        let url = pathOrURL.hasPrefix("http") ? pathOrURL : configuration.baseURL + pathOrURL
        var attempt = 0
        var secondaryLimits = 0
        var lastProblem = ""
        while attempt < maxAttempts {
            attempt += 1
            let token = try await tokens.next(maximumWait: configuration.maximumRateLimitWait)
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "accept", value: accept)
            request.headers.add(name: "x-github-api-version", value: "2022-11-28")
            request.headers.add(name: "user-agent", value: "BuildRisk")
            if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
            if let etag { request.headers.add(name: "if-none-match", value: etag) }
            let sentAt = Date()
            let response: GitHubResponse
            do {
                let answer = try await httpClient.client().execute(request, timeout: .seconds(30))
                var buffer = try await answer.body.collect(upTo: 32 * 1024 * 1024)
                response = GitHubResponse(status: Int(answer.status.code), headers: answer.headers, body: buffer.readData(length: buffer.readableBytes) ?? Data())
            } catch {
                await tokens.release(token)
                lastProblem = "\(error)"
                logger.info("GitHub request failed; retrying", metadata: ["url": "\(url)", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: Self.backoff(attempt))
                continue
            }
            counter?.record(status: response.status)
            // What the answer says of the token is recorded in the same step that frees it, so no
            // request waiting for the token is sent between a refusal and the rest it starts.
            let limit = Self.rateLimit(status: response.status, headers: response.headers, body: response.body)
            let rest = await tokens.answered(token, status: response.status, headers: response.headers, sentAt: sentAt,
                                             limit: limit, secondaryBase: configuration.secondaryRateLimitWait)
            switch response.status {
            case 200..<300, 304:
                return response
            case 300..<400 where response.headers.first(name: "location") != nil:
                return response
            case 403, 429:
                switch limit {
                case .primary:
                    // The pool rests this token until its reset and hands out another, or waits.
                    lastProblem = "primary rate limit"
                    attempt -= 1
                    continue
                case .secondary:
                    // The token rests: this request and every other one on it wait in the pool, so
                    // none is sent while GitHub refuses them ("continuing to make requests while
                    // you are rate limited may result in the banning of your integration").
                    secondaryLimits += 1
                    let rest = rest ?? configuration.secondaryRateLimitWait
                    lastProblem = "secondary rate limit"
                    logger.notice("GitHub secondary rate limit; the token rests", metadata: ["url": "\(url)", "rest": "\(rest)", "status": "\(response.status)"])
                    guard secondaryLimits <= Self.maxSecondaryLimits, rest <= configuration.maximumRateLimitWait else {
                        throw GitHubError.unavailable("secondary rate limit repeated \(secondaryLimits) times; the next rest would be \(rest)")
                    }
                    attempt -= 1
                    continue
                case nil:
                    throw GitHubError.unauthorized("\(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
                }
            case 401:
                throw GitHubError.unauthorized(String(decoding: response.body.prefix(300), as: UTF8.self))
            case 404:
                throw GitHubError.notFound(url.replacingOccurrences(of: configuration.baseURL, with: ""))
            case 410:
                throw GitHubError.gone(url.replacingOccurrences(of: configuration.baseURL, with: ""))
            case 422:
                throw GitHubError.unprocessable(String(decoding: response.body.prefix(300), as: UTF8.self))
            case 500..<600:
                lastProblem = "HTTP \(response.status)"
                try await Task.sleep(for: Self.backoff(attempt))
                continue
            default:
                throw GitHubError.unexpected(status: response.status, detail: String(decoding: response.body.prefix(300), as: UTF8.self))
            }
        }
        throw GitHubError.unavailable(lastProblem)
    }

    /// Secondary limits one request waits out before it fails (GitHub: "throw an error after a
    /// specific number of retries").
    static let maxSecondaryLimits = 8

    static func backoff(_ attempt: Int) -> Duration {
        let base = 0.2 * pow(2, Double(attempt - 1))
        return .milliseconds(Int64((base / 2 + Double.random(in: 0...(base / 2))) * 1000))
    }

    /// What a 403 or 429 means.
    public enum RateLimit: Equatable, Sendable {
        /// The token's hourly budget is spent until `reset`.
        case primary(reset: Date?)
        /// A secondary limit; rest `retryAfter` when GitHub says, else the configured wait.
        case secondary(retryAfter: Duration?)
    }

    /// Reads a 403 or 429 as GitHub's rate-limit documentation does ("Handle rate limit errors
    /// appropriately"): `retry-after` first, then `x-ratelimit-remaining: 0` until
    /// `x-ratelimit-reset`, then a message that names a rate limit, any 429, or a 403 with budget
    /// left and no message; nil for a 403 that refuses access (that fails for good).
    public static func rateLimit(status: Int, headers: HTTPHeaders, body: Data) -> RateLimit? {
        guard status == 403 || status == 429 else { return nil }
        if let seconds = headers.first(name: "retry-after").flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            return .secondary(retryAfter: .seconds(max(seconds, 1)))
        }
        let remaining = headers.first(name: "x-ratelimit-remaining").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        if remaining == 0 {
            return .primary(reset: headers.first(name: "x-ratelimit-reset").flatMap(Double.init).map(Date.init(timeIntervalSince1970:)))
        }
        struct Message: Decodable { var message: String? }
        let message = (try? JSONDecoder().decode(Message.self, from: body))?.message
            ?? String(decoding: body.prefix(1000), as: UTF8.self)
        if message.range(of: "rate limit", options: .caseInsensitive) != nil || message.range(of: "abuse", options: .caseInsensitive) != nil {
            return .secondary(retryAfter: nil)
        }
        if status == 429 { return .secondary(retryAfter: nil) }
        // GitHub's refusals of access ("Resource not accessible by integration") say so; a bare
        // 403 that leaves budget can only be a limit.
        if remaining != nil, message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return .secondary(retryAfter: nil) }
        return nil
    }
}

/// The tokens of a client (or no token: anonymous requests, limited alike), each with what
/// GitHub last said of its primary rate limit and whether it rests after a secondary one.
public actor TokenPool {
    struct State {
        var token: String?
        var remaining = Int.max
        var reset = Date.distantPast
        /// No request is sent on the token before this (a secondary rate limit).
        var restingUntil = Date.distantPast
        var restingSince = Date.distantPast
        /// Secondary limits in a row, for the exponential rest.
        var strikes = 0
        /// Requests on the token not yet answered.
        var inFlight = 0
        /// Once a secondary limit was met, one request at a time: GitHub's advice ("make requests
        /// serially instead of concurrently"), and then only the request that meets the next limit
        /// is refused, not every other one already on its way.
        var serial = false

        func free(at now: Date) -> Bool { availableAt <= now && (!serial || inFlight == 0) }

        /// When the token may be used again.
        var availableAt: Date { max(restingUntil, remaining > 0 ? .distantPast : reset) }
    }
    private var states: [State]
    private var cursor = 0

    public init(tokens: [String]) {
        states = tokens.isEmpty ? [State(token: nil)] : tokens.map { State(token: $0) }
    }

    /// The next token free to use (nil for anonymous requests); waits for the earliest one when
    /// every token is spent or resting.
    public func next(maximumWait: Duration) async throws -> String? {
        while true {
            let now = Date()
            for offset in 0..<states.count {
                let index = (cursor + offset) % states.count
                if states[index].free(at: now) {
                    cursor = (index + 1) % states.count
                    states[index].inFlight += 1
                    return states[index].token
                }
            }
            let earliest = states.map(\.availableAt).min() ?? now
            // A token that is only busy with its one request frees up within a request's time.
            let wait = earliest <= now ? 0.005 : earliest.timeIntervalSince(now) + 0.05
            guard wait <= Double(maximumWait.components.seconds) else {
                throw GitHubError.unavailable("every token is rate limited until \(earliest)")
            }
            try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
        }
    }

    /// Records what an answer says of the token's budget; an answer to a request sent after the
    /// token's rest ended clears its secondary strikes.
    public func update(_ token: String?, headers: HTTPHeaders, status: Int, sentAt: Date) {
        guard let index = states.firstIndex(where: { $0.token == token }) else { return }
        if let remaining = headers.first(name: "x-ratelimit-remaining").flatMap(Int.init) { states[index].remaining = remaining }
        if let reset = headers.first(name: "x-ratelimit-reset").flatMap(Double.init) { states[index].reset = Date(timeIntervalSince1970: reset) }
        if status != 403, status != 429, sentAt >= states[index].restingUntil { states[index].strikes = 0 }
    }

    /// Records an answer on `token` and frees the token in one step: its budget, and the primary
    /// rest or secondary rest `limit` calls for (returned). A request waiting in ``next(maximumWait:)``
    /// sees the token either busy or resting, never free in between.
    public func answered(_ token: String?, status: Int, headers: HTTPHeaders, sentAt: Date,
                         limit: GitHubClient.RateLimit?, secondaryBase: Duration) -> Duration? {
        defer { release(token) }
        update(token, headers: headers, status: status, sentAt: sentAt)
        switch limit {
        case .primary(let reset):
            spent(token, until: reset ?? Date().addingTimeInterval(60))
            return nil
        case .secondary(let retryAfter):
            return rest(token, retryAfter: retryAfter, base: secondaryBase, sentAt: sentAt)
        case nil:
            return nil
        }
    }

    /// The request that ``next(maximumWait:)`` handed `token` to failed without an answer.
    public func release(_ token: String?) {
        guard let index = states.firstIndex(where: { $0.token == token }) else { return }
        states[index].inFlight = max(states[index].inFlight - 1, 0)
    }

    /// Marks the token's primary budget spent until `reset`.
    public func spent(_ token: String?, until reset: Date) {
        guard let index = states.firstIndex(where: { $0.token == token }) else { return }
        states[index].remaining = 0
        states[index].reset = max(states[index].reset, reset)
    }

    /// Rests `token` after a secondary limit and returns the rest: `retryAfter`, else `base`
    /// doubled for every limit in a row. A request sent before the current rest began was
    /// refused for the limit already being waited out and does not count as a repeat.
    public func rest(_ token: String?, retryAfter: Duration?, base: Duration, sentAt: Date) -> Duration {
        guard let index = states.firstIndex(where: { $0.token == token }) else { return retryAfter ?? base }
        let now = Date()
        let repeated = sentAt >= states[index].restingSince
        if repeated { states[index].strikes += 1 }
        states[index].serial = true
        let rest = retryAfter ?? base * (1 << min(max(states[index].strikes - 1, 0), 16))
        let until = now.addingTimeInterval(Double(rest.components.seconds) + Double(rest.components.attoseconds) / 1e18)
        if until > states[index].restingUntil {
            states[index].restingUntil = until
            if repeated { states[index].restingSince = now }
        }
        return rest
    }
}

/// An HTTP client made on first use, so a service that never calls out never holds one, and
/// shut down with the service.
public final class LazyHTTPClient: Sendable {
    private let box = Mutex<(client: HTTPClient?, closed: Bool)>((nil, false))
    private let configuration: HTTPClient.Configuration

    public init(configuration: HTTPClient.Configuration) {
        self.configuration = configuration
    }

    /// The client every service uses to reach GitHub and what it links to: 10 s to connect,
    /// at most `read` between bytes, redirects as `redirects` says.
    public convenience init(read: Duration = .seconds(60), redirects: HTTPClient.Configuration.RedirectConfiguration) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10), read: TimeAmount(read))
        configuration.redirectConfiguration = redirects
        self.init(configuration: configuration)
    }

    /// The client; after ``shutdown()`` there is none to be had.
    public func client() throws -> HTTPClient {
        try box.withLock { box in
            if let client = box.client { return client }
            guard !box.closed else { throw GitHubError.unavailable("the service is shutting down") }
            let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            box.client = client
            return client
        }
    }

    public func shutdown() async throws {
        if let client = box.withLock({ box -> HTTPClient? in
            defer { box = (nil, true) }
            return box.client
        }) {
            try await client.shutdown()
        }
    }
}

/// A service's HTTP client lives as long as the service: it is shut down when the service stops.
extension LazyHTTPClient: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }
}
