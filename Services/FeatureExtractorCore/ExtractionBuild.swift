import BuildRiskContracts
import BuildRiskLogs
import Foundation

/// One build as the extractor reads it: the run, the commit features read, and its parsed logs
/// when the ingestor has them.
public struct ExtractionBuild: Sendable, Equatable, Codable {
    public var runId: Int64
    public var runNumber: Int
    public var workflowName: String
    public var event: String
    public var headBranch: String?
    public var headSha: String
    /// The commit features read (the ingestor's effective sha: the head, or a commit replayed from its patch).
    public var commitSha: String
    public var actor: String?
    /// When the run was triggered: the instant that separates the past from the future.
    public var createdAt: Date
    /// When it finished (the run's `updated_at` once completed); its outcome is known only from then on.
    public var finishedAt: Date?
    /// Post-build: success, failure, cancelled, timed_out…
    public var conclusion: String?
    /// Nil when the logs are missing (expired, never ingested).
    public var logs: RunLogFacts?
    /// The pull request the run built, when GitHub named it (not for pull requests from forks).
    public var pullRequestNumber: Int?
    /// What GitHub says of that pull request; nil when not fetched (no selected feature needs it,
    /// or GitHub could not give it).
    public var pullRequest: PullRequestFacts?
    /// When each comment on a commit was written (GitHub's commit comments, oldest first), for at
    /// least the commits the build built (``FeatureExtractor/plannedBuiltCommits(_:)``); nil when
    /// not fetched (no selected feature needs them, or GitHub could not give them).
    public var commitComments: [String: [Date]]?

    public init(runId: Int64, runNumber: Int = 0, workflowName: String, event: String, headBranch: String? = nil, headSha: String, commitSha: String? = nil,
                actor: String? = nil, createdAt: Date, finishedAt: Date? = nil, conclusion: String? = nil, logs: RunLogFacts? = nil,
                pullRequestNumber: Int? = nil, pullRequest: PullRequestFacts? = nil, commitComments: [String: [Date]]? = nil) {
        self.runId = runId
        self.runNumber = runNumber
        self.workflowName = workflowName
        self.event = event
        self.headBranch = headBranch
        self.headSha = headSha
        self.commitSha = commitSha ?? headSha
        self.actor = actor
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.conclusion = conclusion
        self.logs = logs
        self.pullRequestNumber = pullRequestNumber
        self.pullRequest = pullRequest
        self.commitComments = commitComments
    }

    /// From the warehouse's run and the ingestor's record; the run's ISO 8601 times must parse.
    public init(run: BuildRun, effectiveSha: String?, logs: RunLogFacts?) throws(ExtractionError) {
        guard let created = Self.parseTime(run.createdAt) else { throw .badInput("run \(run.runId): created_at '\(run.createdAt)' is not an ISO 8601 time") }
        guard let updated = Self.parseTime(run.updatedAt) else { throw .badInput("run \(run.runId): updated_at '\(run.updatedAt)' is not an ISO 8601 time") }
        self.init(runId: run.runId, runNumber: run.runNumber, workflowName: run.workflowName, event: run.event, headBranch: run.headBranch,
                  headSha: run.headSha, commitSha: effectiveSha, actor: run.actor, createdAt: created, finishedAt: updated,
                  conclusion: run.conclusion, logs: logs, pullRequestNumber: run.pullRequestNumber)
    }

    static func parseTime(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    /// Whether a pull request triggered the run.
    public var isPullRequest: Bool { event == "pull_request" || event == "pull_request_target" }

    /// GitHub's failing conclusions; cancelled, skipped and neutral runs are neither passed nor failed
    /// by their code, and count as not failed.
    public var failed: Bool { ["failure", "timed_out", "startup_failure"].contains(conclusion ?? "") }
}

/// What GitHub says of a pull request, as the pr_info and discussion features read it. Comments
/// carry their creation times, so a build counts only those written before it was triggered.
public struct PullRequestFacts: Sendable, Equatable, Codable {
    public var number: Int
    public var createdAt: Date
    public var title: String
    public var body: String
    /// Its conversation's comments (GitHub's issue comments), oldest first.
    public var issueCommentTimes: [Date]
    /// Its review comments (on lines of the diff), oldest first.
    public var reviewCommentTimes: [Date]

    public init(number: Int, createdAt: Date, title: String, body: String, issueCommentTimes: [Date], reviewCommentTimes: [Date]) {
        self.number = number
        self.createdAt = createdAt
        self.title = title
        self.body = body
        self.issueCommentTimes = issueCommentTimes
        self.reviewCommentTimes = reviewCommentTimes
    }
}

/// Why extraction refused its input or could not proceed.
public enum ExtractionError: Error, Equatable, CustomStringConvertible {
    case badInput(String)
    /// Builds must come oldest first: a build triggered before one already processed would see less
    /// history than it had, or change what later vectors saw.
    case outOfOrder(runId: Int64, createdAt: Date, after: Date)

    public var description: String {
        switch self {
        case .badInput(let message): message
        case .outOfOrder(let runId, let createdAt, let after):
            "run \(runId) was triggered at \(createdAt.formatted(.iso8601)), before the last processed build (\(after.formatted(.iso8601))): builds must be processed oldest first"
        }
    }
}
