import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// How long finished training jobs and log lines are kept. Experiments and model versions (the
/// metrics) are kept for ever; a deleted job's experiment keeps its job id.
public struct RetentionPolicy: Sendable {
    public var completedDays: Int
    /// Failed and cancelled jobs.
    public var failedDays: Int
    public var logDays: Int
    /// How often the retention job runs.
    public var interval: Duration

    static let completedSetting: Setting<Int> = .integer(
        "TRAINING_RETENTION_COMPLETED_DAYS", default: 90, in: 1...36_500, meaning: "completed training jobs are deleted this many days after they finished")
    static let failedSetting: Setting<Int> = .integer(
        "TRAINING_RETENTION_FAILED_DAYS", default: 30, in: 1...36_500,
        meaning: "failed and cancelled training jobs are deleted this many days after they ended")
    static let logSetting: Setting<Int> = .integer(
        "TRAINING_RETENTION_LOG_DAYS", default: 7, in: 1...36_500, meaning: "training log lines are deleted after this many days")
    static let intervalSetting: Setting<Duration> = .seconds(
        "TRAINING_RETENTION_INTERVAL_SECONDS", default: 3600, in: 1...604_800, meaning: "how often the training retention job runs")
    static let settings = [completedSetting.declaration, failedSetting.declaration, logSetting.declaration, intervalSetting.declaration]

    static func read(_ environment: [String: String]) throws -> RetentionPolicy {
        RetentionPolicy(
            completedDays: try completedSetting.read(environment), failedDays: try failedSetting.read(environment),
            logDays: try logSetting.read(environment), interval: try intervalSetting.read(environment))
    }
}

/// The periodic retention job: applies the policy, then queues its next run. One run per interval
/// slot (its idempotency key), however many replicas queue it.
struct TrainingRetention: Sendable {
    static let job = JobKind<RetentionRun>("training.retention")

    struct RetentionRun: Codable, Sendable {
        /// The interval slot (seconds since 1970 / interval) the run belongs to.
        var slot: Int64
    }

    let store: TrainingPostgresStore
    let queue: JobQueue
    let policy: RetentionPolicy
    let logger: Logger

    var intervalSeconds: Int64 { max(Int64(policy.interval.inSeconds), 1) }

    /// Queues the run of the current slot (at start) or of the next one (after a run).
    func schedule(slot: Int64, at date: Date) async throws {
        try await queue.enqueue(
            Self.job, RetentionRun(slot: slot),
            options: JobOptions(priority: 1, runAt: date, maxAttempts: 3, idempotencyKey: "training.retention:\(slot)"))
    }

    func start() async throws {
        try await schedule(slot: Int64(Date().timeIntervalSince1970) / intervalSeconds, at: Date())
    }

    func run(_ run: RetentionRun) async throws {
        let deleted = try await store.applyRetention(policy)
        if deleted.jobs + deleted.logLines > 0 {
            logger.info("training retention", metadata: ["jobs": "\(deleted.jobs)", "logLines": "\(deleted.logLines)"])
        }
        let next = run.slot + 1
        try await schedule(slot: next, at: Date(timeIntervalSince1970: TimeInterval(next * intervalSeconds)))
    }
}
