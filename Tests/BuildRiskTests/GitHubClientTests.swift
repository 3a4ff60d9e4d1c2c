import AsyncHTTPClient
import BuildRiskGitHub
import Foundation
import GitHubSandboxCore
import NIOHTTP1
import Testing

/// The GitHub client under GitHub's rate limits, as GitHub documents them.
@Suite(.timeLimit(.minutes(3)))
struct GitHubClientTests {
    static func headers(_ pairs: [(String, String)]) -> HTTPHeaders { HTTPHeaders(pairs) }
    static let secondaryMessage = Data(#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#.utf8)

    /// Answers as GitHub gives them (docs.github.com, "Rate limits for the REST API" and
    /// "Troubleshooting the REST API"), each read the way the documentation says to handle it.
    @Test func forbiddenAndTooManyRequestsAreReadAsGitHubDocumentsThem() {
        typealias Client = GitHubClient
        // A secondary limit with no retry-after and budget left: rest, do not fail for good.
        #expect(Client.rateLimit(status: 403, headers: Self.headers([("x-ratelimit-remaining", "4711")]), body: Self.secondaryMessage) == .secondary(retryAfter: nil))
        #expect(Client.rateLimit(status: 429, headers: Self.headers([("x-ratelimit-remaining", "4711")]), body: Self.secondaryMessage) == .secondary(retryAfter: nil))
        // retry-after names the rest, whatever the status.
        #expect(Client.rateLimit(status: 429, headers: Self.headers([("retry-after", "30"), ("x-ratelimit-remaining", "12")]), body: Data()) == .secondary(retryAfter: .seconds(30)))
        #expect(Client.rateLimit(status: 403, headers: Self.headers([("retry-after", "7")]), body: Self.secondaryMessage) == .secondary(retryAfter: .seconds(7)))
        // remaining 0 is the primary limit, until x-ratelimit-reset.
        #expect(Client.rateLimit(status: 403, headers: Self.headers([("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000000")]),
                                 body: Data(#"{"message":"API rate limit exceeded for user ID 1."}"#.utf8))
                == .primary(reset: Date(timeIntervalSince1970: 1_700_000_000)))
        // A bare 403 with budget left can only be a limit; a 429 always is one.
        #expect(Client.rateLimit(status: 403, headers: Self.headers([("x-ratelimit-remaining", "10")]), body: Data()) == .secondary(retryAfter: nil))
        #expect(Client.rateLimit(status: 429, headers: Self.headers([]), body: Data("slow down".utf8)) == .secondary(retryAfter: nil))
        // A refusal of access is not a limit (it fails for good), nor is a 401 of bad credentials.
        #expect(Client.rateLimit(status: 403, headers: Self.headers([("x-ratelimit-remaining", "4999")]),
                                 body: Data(#"{"message":"Resource not accessible by integration"}"#.utf8)) == nil)
        #expect(Client.rateLimit(status: 401, headers: Self.headers([("x-ratelimit-remaining", "59")]),
                                 body: Data(#"{"message":"Bad credentials"}"#.utf8)) == nil)
    }

    /// GitHub: "wait for at least one minute", then "an exponentially increasing amount of time"
    /// while the limit repeats; a request that was already on its way when the token began to rest
    /// is refused for the same limit and does not count as a repeat.
    @Test func aTokensRestDoublesWhileTheSecondaryLimitRepeatsAndNotForRequestsAlreadyInFlight() async throws {
        let pool = TokenPool(tokens: ["token-a", "token-b"])
        let base = Duration.seconds(60)
        let early = Date()
        #expect(await pool.rest("token-a", retryAfter: nil, base: base, sentAt: early) == .seconds(60))
        // Sent before that rest began: the same limit.
        #expect(await pool.rest("token-a", retryAfter: nil, base: base, sentAt: early) == .seconds(60))
        // Sent after: the limit repeats.
        #expect(await pool.rest("token-a", retryAfter: nil, base: base, sentAt: Date()) == .seconds(120))
        #expect(await pool.rest("token-a", retryAfter: nil, base: base, sentAt: Date()) == .seconds(240))
        // retry-after, when given, is the rest.
        #expect(await pool.rest("token-a", retryAfter: .seconds(5), base: base, sentAt: Date()) == .seconds(5))
        // The other token is untouched and is the one handed out meanwhile.
        #expect(await pool.rest("token-b", retryAfter: nil, base: base, sentAt: Date()) == .seconds(60))
        await #expect(throws: GitHubError.self) { try await pool.next(maximumWait: .seconds(1)) }
    }

    /// README: "a token whose rate limit is spent rests until its reset" — the pool hands out the
    /// other token meanwhile, and with every token spent past the longest wait it fails, retryably.
    @Test func aSpentTokenRestsUntilItsResetAndTheOtherIsUsed() async throws {
        let pool = TokenPool(tokens: ["token-a", "token-b"])
        let reset = Date().addingTimeInterval(3600)
        await pool.update("token-a", headers: Self.headers([("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", String(Int(reset.timeIntervalSince1970)))]), status: 200, sentAt: Date())
        for _ in 0..<3 {
            let token = try await pool.next(maximumWait: .seconds(1))
            #expect(token == "token-b")
            await pool.release(token)
        }
        await pool.spent("token-b", until: reset)
        let error = await #expect(throws: GitHubError.self) { try await pool.next(maximumWait: .seconds(60)) }
        #expect(error?.isRetryable == true)
        // A budget whose reset has passed is whole again.
        await pool.update("token-a", headers: Self.headers([("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", String(Int(Date().timeIntervalSince1970) - 1))]), status: 200, sentAt: Date())
        #expect(try await pool.next(maximumWait: .seconds(1)) == "token-a")
    }

    /// The sandbox refuses every request on a limited token until the limit ends, and counts them.
    /// The client rests the token on the first refusal and then sends one request at a time on it,
    /// so only requests already on their way at the first limit are refused with it; a client that went on sending would be refused hundreds of times in the
    /// second each limit lasts. The answers take turns through 403 and 429, with and without
    /// retry-after, so the ones without (once taken for "unauthorized") are among them.
    @Test func aSecondaryLimitRestsTheTokenAndConcurrentRequestsWaitInsteadOfBeingSent() async throws {
        try await SandboxAPITests().withSandbox([("acme/limits", 20)]) { api, baseURL in
            var faults = SandboxFaults()
            faults.secondaryRateLimitEvery = 10
            faults.secondaryRateLimitSeconds = 1
            api.setFaults(faults)
            let http = LazyHTTPClient(configuration: .init())
            let client = GitHubClient(
                configuration: GitHubConfiguration(baseURL: baseURL, tokens: ["sandbox-token-limits"], secondaryRateLimitWait: .seconds(1)),
                httpClient: http, logger: TestEnvironment.logger)
            let concurrency = 4
            let perTask = 20
            let outcome: Result<Int, any Error>
            do {
                outcome = .success(try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<concurrency {
                        group.addTask {
                            var ok = 0
                            for _ in 0..<perTask {
                                if try await client.get("/repos/acme/limits").status == 200 { ok += 1 }
                            }
                            return ok
                        }
                    }
                    return try await group.reduce(0, +)
                })
            } catch {
                outcome = .failure(error)
            }
            try await http.shutdown()
            let answered = try outcome.get()
            let stats = api.currentStats
            #expect(answered == concurrency * perTask)
            // 80 answered requests cross at least four multiples of 10: every kind of answer was met.
            #expect(stats.secondaryRateLimited >= 4)
            // Refused: each trigger, and only at the first limit the other requests already in
            // flight (after it the token carries one request at a time, as GitHub advises).
            #expect(stats.secondaryRefused >= stats.secondaryRateLimited)
            #expect(stats.secondaryRefused <= stats.secondaryRateLimited + concurrency - 1, "\(stats.secondaryRefused) refused for \(stats.secondaryRateLimited) limits")
        }
    }
}
