import BuildRiskGitHub
import Foundation
import Logging

/// Reads what the pull-request features need from GitHub's REST API: the pull request
/// (`GET /repos/{owner}/{repo}/pulls/{number}`: when it was opened, its title and description) and
/// when each comment of its conversation (`/issues/{number}/comments`) and of its review
/// (`/pulls/{number}/comments`) was written, every page of them.
struct PullRequestFetcher: Sendable {
    let github: GitHubClient
    let logger: Logger

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
            let response = try await github.get("/repos/\(fullName)/pulls/\(number)")
            let pull = try JSONDecoder().decode(Pull.self, from: response.body)
            guard let opened = ExtractionBuild.parseTime(pull.created_at) else {
                throw GitHubError.unexpected(status: response.status, detail: "pull request \(number): created_at '\(pull.created_at)' is not ISO 8601")
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

    /// Every comment's creation time, following the `Link` header's `next` page.
    private func commentTimes(_ firstPage: String) async throws -> [Date] {
        var times: [Date] = []
        var next: String? = firstPage
        while let page = next {
            let response = try await github.get(page)
            for comment in try JSONDecoder().decode([Comment].self, from: response.body) {
                if let time = ExtractionBuild.parseTime(comment.created_at) { times.append(time) }
            }
            next = response.links["next"]
        }
        return times.sorted()
    }
}
