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

    public init(runId: Int64, runNumber: Int = 0, workflowName: String, event: String, headBranch: String? = nil, headSha: String, commitSha: String? = nil,
                actor: String? = nil, createdAt: Date, finishedAt: Date? = nil, conclusion: String? = nil, logs: RunLogFacts? = nil) {
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
    }

    /// From the warehouse's run and the ingestor's record; the run's ISO 8601 times must parse.
    public init(run: BuildRun, effectiveSha: String?, logs: RunLogFacts?) throws(ExtractionError) {
        guard let created = Self.parseTime(run.createdAt) else { throw .badInput("run \(run.runId): created_at '\(run.createdAt)' is not an ISO 8601 time") }
        guard let updated = Self.parseTime(run.updatedAt) else { throw .badInput("run \(run.runId): updated_at '\(run.updatedAt)' is not an ISO 8601 time") }
        self.init(runId: run.runId, runNumber: run.runNumber, workflowName: run.workflowName, event: run.event, headBranch: run.headBranch,
                  headSha: run.headSha, commitSha: effectiveSha, actor: run.actor, createdAt: created, finishedAt: updated,
                  conclusion: run.conclusion, logs: logs)
    }

    static func parseTime(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    /// GitHub's failing conclusions; cancelled, skipped and neutral runs are neither passed nor failed
    /// by their code, and count as not failed.
    public var failed: Bool { ["failure", "timed_out", "startup_failure"].contains(conclusion ?? "") }
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
