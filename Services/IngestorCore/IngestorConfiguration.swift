import BuildRiskContracts
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
    /// PEM CA certificates git over https trusts instead of the system's (a private CA); nil keeps the system's.
    public var gitCAFile: String?

    public init(worktreeBudgetBytes: Int64 = 10 << 30, maxLogBytes: Int64 = 256 << 20, cloneTimeout: Duration = .seconds(900), logTimeout: Duration = .seconds(120), logConcurrency: Int = 4) {
        self.worktreeBudgetBytes = worktreeBudgetBytes
        self.maxLogBytes = maxLogBytes
        self.cloneTimeout = cloneTimeout
        self.logTimeout = logTimeout
        self.logConcurrency = logConcurrency
    }

    /// The ingestor's settings; its definition lists them.
    public static let settings = [
        worktreeBudgetMB.declaration, maxLogMB.declaration, cloneTimeoutSetting.declaration, logTimeoutSetting.declaration,
        logConcurrencySetting.declaration, logStallSetting.declaration, gitCAFileSetting.declaration,
    ]
    static let worktreeBudgetMB: Setting<Int> = .integer(
        "INGESTOR_WORKTREE_BUDGET_MB", default: 10 << 10, in: 1...(1 << 30),
        meaning: "disk all worktrees together may take; worktrees no pending pipeline needs are removed first")
    static let maxLogMB: Setting<Int> = .integer(
        "INGESTOR_MAX_LOG_MB", default: 256, in: 1...(1 << 20), meaning: "largest run-log archive downloaded")
    static let cloneTimeoutSetting: Setting<Duration> = .seconds(
        "INGESTOR_CLONE_TIMEOUT_SECONDS", default: 900, in: 1...86_400, meaning: "a clone or fetch still running after this is aborted")
    static let logTimeoutSetting: Setting<Duration> = .seconds(
        "INGESTOR_LOG_TIMEOUT_SECONDS", default: 120, in: 1...86_400, meaning: "a log download still running after this fails")
    static let logConcurrencySetting: Setting<Int> = .integer(
        "INGESTOR_LOG_CONCURRENCY", default: 4, in: 1...64, meaning: "runs whose logs one job downloads at once")

    static let logStallSetting: Setting<Duration> = .seconds(
        "INGESTOR_LOG_STALL_SECONDS", default: 30, in: 1...3600,
        meaning: "a log download that receives no byte for this long is cut off and retried")

    static let gitCAFileSetting = Setting<String?>(
        "GIT_SSL_CA_FILE", default: nil, defaultText: nil, expected: "a readable PEM file of CA certificates",
        meaning: "CA certificates (PEM) clones and fetches over https trust instead of the system's, for a server a private CA signs"
    ) { path in
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") else { return nil }
        return path
    }

    /// The settings as `environment` sets them; a bad value throws with the variable's name.
    public init(environment: [String: String]) throws {
        self.init(
            worktreeBudgetBytes: Int64(try Self.worktreeBudgetMB.read(environment)) << 20,
            maxLogBytes: Int64(try Self.maxLogMB.read(environment)) << 20,
            cloneTimeout: try Self.cloneTimeoutSetting.read(environment),
            logTimeout: try Self.logTimeoutSetting.read(environment),
            logConcurrency: try Self.logConcurrencySetting.read(environment))
        logStallTimeout = try Self.logStallSetting.read(environment)
        gitCAFile = try Self.gitCAFileSetting.read(environment)
    }
}
