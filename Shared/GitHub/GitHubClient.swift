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

    public init(baseURL: String = "https://api.github.com", tokens: [String] = [], maximumRateLimitWait: Duration = .seconds(900)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.tokens = tokens
        self.maximumRateLimitWait = maximumRateLimitWait
    }

    /// The settings a service that talks to GitHub reads; its definition lists them.
    public static let settings = [apiURLSetting.declaration, tokensSetting.declaration, tokenSetting.declaration]
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
        self.init(baseURL: try Self.apiURLSetting.read(environment), tokens: tokens.isEmpty ? try Self.tokenSetting.read(environment) : tokens)
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
            let response: GitHubResponse
            do {
                let answer = try await httpClient.client().execute(request, timeout: .seconds(30))
                var buffer = try await answer.body.collect(upTo: 32 * 1024 * 1024)
                response = GitHubResponse(status: Int(answer.status.code), headers: answer.headers, body: buffer.readData(length: buffer.readableBytes) ?? Data())
            } catch {
                lastProblem = "\(error)"
                logger.info("GitHub request failed; retrying", metadata: ["url": "\(url)", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: Self.backoff(attempt))
                continue
            }
            counter?.record(status: response.status)
            if let token { await tokens.update(token, headers: response.headers) }
            switch response.status {
            case 200..<300, 304:
                return response
            case 300..<400 where response.headers.first(name: "location") != nil:
                return response
            case 403, 429:
                let message = String(decoding: response.body.prefix(300), as: UTF8.self)
                if let retryAfter = response.headers.first(name: "retry-after").flatMap(Int.init) {
                    // Secondary rate limit: wait what GitHub asks, not fail.
                    lastProblem = "secondary rate limit"
                    attempt -= 1
                    try await Task.sleep(for: .seconds(max(retryAfter, 1)))
                    continue
                }
                if response.headers.first(name: "x-ratelimit-remaining") == "0" {
                    // Primary rate limit: the pool rests this token until its reset and hands out
                    // another, or waits; without tokens, wait for the reset here.
                    lastProblem = "primary rate limit"
                    attempt -= 1
                    if token == nil {
                        let reset = response.headers.first(name: "x-ratelimit-reset").flatMap(Double.init) ?? Date().timeIntervalSince1970 + 60
                        let wait = reset - Date().timeIntervalSince1970 + 0.05
                        guard wait <= Double(configuration.maximumRateLimitWait.components.seconds) else {
                            throw GitHubError.unavailable("rate limit spent until \(Date(timeIntervalSince1970: reset)) and no token configured")
                        }
                        try await Task.sleep(for: .milliseconds(Int64(max(wait, 0.05) * 1000)))
                    }
                    continue
                }
                throw GitHubError.unauthorized("\(response.status): \(message)")
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

    static func backoff(_ attempt: Int) -> Duration {
        let base = 0.2 * pow(2, Double(attempt - 1))
        return .milliseconds(Int64((base / 2 + Double.random(in: 0...(base / 2))) * 1000))
    }
}

/// The tokens of a client, each with what GitHub last said of its primary rate limit.
actor TokenPool {
    private var states: [(token: String, remaining: Int, reset: Date)]
    private var cursor = 0

    init(tokens: [String]) {
        states = tokens.map { ($0, Int.max, .distantPast) }
    }

    /// The next token with budget left (nil when there are no tokens); waits for the earliest
    /// reset when all are spent.
    func next(maximumWait: Duration) async throws -> String? {
        guard !states.isEmpty else { return nil }
        while true {
            let now = Date()
            for offset in 0..<states.count {
                let index = (cursor + offset) % states.count
                if states[index].remaining > 0 || states[index].reset <= now {
                    cursor = (index + 1) % states.count
                    return states[index].token
                }
            }
            let earliest = states.map(\.reset).min() ?? now
            let wait = earliest.timeIntervalSince(now) + 0.05
            guard wait <= Double(maximumWait.components.seconds) else {
                throw GitHubError.unavailable("every token's rate limit is spent until \(earliest)")
            }
            try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
        }
    }

    func update(_ token: String, headers: HTTPHeaders) {
        guard let index = states.firstIndex(where: { $0.token == token }) else { return }
        if let remaining = headers.first(name: "x-ratelimit-remaining").flatMap(Int.init) { states[index].remaining = remaining }
        if let reset = headers.first(name: "x-ratelimit-reset").flatMap(Double.init) { states[index].reset = Date(timeIntervalSince1970: reset) }
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
