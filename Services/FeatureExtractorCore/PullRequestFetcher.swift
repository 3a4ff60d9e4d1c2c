import BuildRiskGitHub
import Foundation
import Logging

/// Reads what the pull-request and discussion features need from GitHub's REST API: the pull
/// request (`GET /repos/{owner}/{repo}/pulls/{number}`: when it was opened, its title and
/// description), when each comment of its conversation (`/issues/{number}/comments`) and of its
/// review (`/pulls/{number}/comments`) was written, and when each comment on a commit
/// (`/commits/{sha}/comments`) was written, every page of them. With a cache, every page is kept
/// with its ETag and asked for again conditionally: unchanged, GitHub answers 304 (no rate limit
/// spent) and the page is read from the cache.
struct PullRequestFetcher: Sendable {
    let github: GitHubClient
    let logger: Logger
    var cache: FeatureVectorPostgresStore?

    /// GitHub's pages hold at most 100 items.
    static let perPage = 100

    private struct Pull: Decodable {
        var number: Int
        var created_at: String
        var title: String?
        var body: String?
    }

    private struct Comment: Decodable {
        var created_at: String
    }

    /// The pull request's facts; nil when GitHub could not give them: no such pull request (404,
    /// 410), refused credentials, an answer that is not its documented JSON, or GitHub unreachable
    /// after the client's own retries. Those builds then say `github_api` is missing (partial)
    /// instead of holding up the repository's extraction, and the reason is logged.
    func facts(fullName: String, number: Int) async throws -> PullRequestFacts? {
        do {
            let pull = try JSONDecoder().decode(Pull.self, from: try await get("/repos/\(fullName)/pulls/\(number)").body)
            guard let opened = ExtractionBuild.parseTime(pull.created_at) else {
                throw GitHubError.unexpected(status: 200, detail: "pull request \(number): created_at '\(pull.created_at)' is not ISO 8601")
            }
            return PullRequestFacts(
                number: pull.number, createdAt: opened, title: pull.title ?? "", body: pull.body ?? "",
                issueCommentTimes: try await commentTimes("/repos/\(fullName)/issues/\(number)/comments?per_page=\(Self.perPage)"),
                reviewCommentTimes: try await commentTimes("/repos/\(fullName)/pulls/\(number)/comments?per_page=\(Self.perPage)"))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.warning("pull request facts unavailable", metadata: ["repository": "\(fullName)", "number": "\(number)", "reason": "\(error)"])
            return nil
        }
    }

    /// When each comment on the commit `sha` was written, oldest first; nil when GitHub could not
    /// give them (no such commit: 422; refused credentials, unreachable), with the reason logged.
    func commitCommentTimes(fullName: String, sha: String) async throws -> [Date]? {
        do {
            return try await commentTimes("/repos/\(fullName)/commits/\(sha)/comments?per_page=\(Self.perPage)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.warning("commit comments unavailable", metadata: ["repository": "\(fullName)", "commit": "\(sha)", "reason": "\(error)"])
            return nil
        }
    }

    /// Gives each build the comments on the commits it will have built (`planned`, from
    /// ``FeatureExtractor/plannedBuiltCommits(_:)``). `known` holds the commits already asked for,
    /// so builds sharing a commit ask once; a build one of whose commits GitHub gave nothing for
    /// gets none (its `github_api` is then missing).
    func attachCommitComments(
        to builds: inout [ExtractionBuild], planned: [Int64: [String]], fullName: String, known: inout [String: [Date]?]
    ) async throws {
        for index in builds.indices {
            guard let commits = planned[builds[index].runId] else { continue }
            var comments: [String: [Date]] = [:]
            for sha in commits {
                if known[sha] == nil { known[sha] = .some(try await commitCommentTimes(fullName: fullName, sha: sha)) }
                comments[sha] = known[sha] ?? nil
            }
            if comments.count == commits.count { builds[index].commitComments = comments }
        }
    }

    /// Every comment's creation time, following the `Link` header's `next` page.
    private func commentTimes(_ firstPage: String) async throws -> [Date] {
        var times: [Date] = []
        var next: String? = firstPage
        while let page = next {
            let (body, nextPage) = try await get(page)
            for comment in try JSONDecoder().decode([Comment].self, from: body) {
                guard let time = ExtractionBuild.parseTime(comment.created_at) else {
                    throw GitHubError.unexpected(status: 200, detail: "\(page): created_at '\(comment.created_at)' is not ISO 8601")
                }
                times.append(time)
            }
            next = nextPage
        }
        return times.sorted()
    }

    /// One page and its next page's URL: conditional on the cached page's ETag, and from the cache
    /// when GitHub answers 304.
    private func get(_ url: String) async throws -> (body: Data, next: String?) {
        guard let cache else {
            let response = try await github.get(url)
            return (response.body, response.links["next"])
        }
        let stored = try await cache.cachedResponse(url: url)
        let response = try await github.get(url, etag: stored?.etag)
        if response.status == 304 {
            guard let stored else { throw GitHubError.unexpected(status: 304, detail: "\(url): not modified, but nothing was cached") }
            return (Data(stored.body.utf8), stored.nextURL)
        }
        let next = response.links["next"]
        if let etag = response.etag {
            try await cache.storeResponse(url: url, .init(etag: etag, body: String(decoding: response.body, as: UTF8.self), nextURL: next))
        }
        return (response.body, next)
    }
}
