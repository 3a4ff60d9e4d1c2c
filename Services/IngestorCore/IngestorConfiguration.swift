import Foundation

/// The ingestor's own settings, read from the environment once at start.
public struct IngestorConfiguration: Sendable {
    /// Worktrees together may take at most this many bytes; unneeded ones are removed first.
    public var worktreeBudgetBytes: Int64
    /// A run's log archive larger than this is refused (the build's logs end failed).
    public var maxLogBytes: Int64
    /// A clone or fetch still running after this is aborted (and retried).
    public var cloneTimeout: Duration
    /// A log download still running after this is aborted (the build's logs end failed).
    public var logTimeout: Duration
    /// Runs whose logs are downloaded at once, per job.
    public var logConcurrency: Int
    /// A log download that receives no byte for this long is broken off (and tried again).
    public var logStallTimeout: Duration = .seconds(30)


    public init(worktreeBudgetBytes: Int64 = 10 << 30, maxLogBytes: Int64 = 256 << 20, cloneTimeout: Duration = .seconds(900), logTimeout: Duration = .seconds(120), logConcurrency: Int = 4) {
        self.worktreeBudgetBytes = worktreeBudgetBytes
        self.maxLogBytes = maxLogBytes
        self.cloneTimeout = cloneTimeout
        self.logTimeout = logTimeout
        self.logConcurrency = logConcurrency
    }

    public init(environment: [String: String]) {
        self.init()
        func number(_ key: String) -> Int64? { environment[key].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }.flatMap { $0 > 0 ? $0 : nil } }
        if let megabytes = number("INGESTOR_WORKTREE_BUDGET_MB") { worktreeBudgetBytes = megabytes << 20 }
        if let megabytes = number("INGESTOR_MAX_LOG_MB") { maxLogBytes = megabytes << 20 }
        if let seconds = number("INGESTOR_CLONE_TIMEOUT_SECONDS") { cloneTimeout = .seconds(seconds) }
        if let seconds = number("INGESTOR_LOG_TIMEOUT_SECONDS") { logTimeout = .seconds(seconds) }
        if let count = number("INGESTOR_LOG_CONCURRENCY") { logConcurrency = Int(min(count, 64)) }
        if let seconds = number("INGESTOR_LOG_STALL_SECONDS") { logStallTimeout = .seconds(seconds) }
    }
}
