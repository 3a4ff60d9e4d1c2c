import BuildRiskContracts
import Foundation

/// What the extractor remembers of one workflow's earlier builds. A build enters in two steps, so
/// no later build sees more than existed when it was triggered: its commit counts as built once a
/// build triggered strictly after it comes along, and its outcome counts once a build is triggered
/// strictly after it finished. Codable, so the service can checkpoint it beside the last build.
public struct WorkflowHistory: Codable, Sendable, Equatable {
    /// A processed build, waiting to be counted.
    struct Entry: Codable, Sendable, Equatable {
        var runId: Int64
        var commitSha: String
        var createdAt: Date
        var finishedAt: Date?
        var conclusion: String?
        var failed: Bool
        var actor: String?
        /// Files its commits touched; nil when its diffs were not read.
        var files: [String]?
        /// From its logs; nil when they are missing.
        var testsFailed: Int?
        var logErrors: Int?
    }

    /// Counts of builds and failures, and the latest outcomes (oldest first, at most five).
    struct Tally: Codable, Sendable, Equatable {
        var builds = 0
        var failures = 0
        var recent: [Bool] = []

        mutating func add(failed: Bool) {
            builds += 1
            if failed { failures += 1 }
            recent.append(failed)
            if recent.count > 5 { recent.removeFirst() }
        }

        var failureRatio: Double? { builds == 0 ? nil : Double(failures) / Double(builds) }
        var recentFailureRatio: Double? { recent.isEmpty ? nil : Double(recent.filter { $0 }.count) / Double(recent.count) }
    }

    /// Processed builds not yet known to exist for the next one (triggered at the same instant).
    var staged: [Entry] = []
    /// Processed builds whose outcome is not yet known to the next one (still running when it was triggered).
    var running: [Entry] = []

    /// Commit → the latest earlier build of it.
    var builtCommits: [String: Int64] = [:]
    var lastTriggeredAt: Date?

    // Outcomes, in the order the builds finished.
    var tally = Tally()
    var lastFinished: Entry?
    var lastFailureTriggeredAt: Date?
    var currentFailureRun = 0
    var endedFailureRuns: [Int] = []
    var committers: [String: Tally] = [:]
    var fileTallies: [String: Tally] = [:]

    public init() {}

    /// Moves into the past what existed, and what had finished, strictly before `instant`.
    mutating func advance(to instant: Date) {
        let (existing, later) = (staged.filter { $0.createdAt < instant }, staged.filter { $0.createdAt >= instant })
        staged = later
        for entry in existing {
            builtCommits[entry.commitSha] = entry.runId
            lastTriggeredAt = max(lastTriggeredAt ?? entry.createdAt, entry.createdAt)
            running.append(entry)
        }
        let finished = running.filter { ($0.finishedAt ?? .distantFuture) < instant }
            .sorted { ($0.finishedAt ?? .distantFuture, $0.createdAt, $0.runId) < ($1.finishedAt ?? .distantFuture, $1.createdAt, $1.runId) }
        guard !finished.isEmpty else { return }
        running.removeAll { ($0.finishedAt ?? .distantFuture) < instant }
        for entry in finished { count(entry) }
    }

    private mutating func count(_ entry: Entry) {
        tally.add(failed: entry.failed)
        lastFinished = entry
        if entry.failed {
            currentFailureRun += 1
            lastFailureTriggeredAt = max(lastFailureTriggeredAt ?? entry.createdAt, entry.createdAt)
        } else if currentFailureRun > 0 {
            endedFailureRuns.append(currentFailureRun)
            currentFailureRun = 0
        }
        if let actor = entry.actor { committers[actor, default: Tally()].add(failed: entry.failed) }
        for file in entry.files ?? [] { fileTallies[file, default: Tally()].add(failed: entry.failed) }
    }

    mutating func record(_ entry: Entry) { staged.append(entry) }

    /// When the workflow's newest recorded build was triggered.
    var newestTrigger: Date? { ([lastTriggeredAt] + staged.map(\.createdAt)).compactMap { $0 }.max() }

    /// Runs of consecutive failures, the one still going included.
    var failureRuns: [Int] { endedFailureRuns + (currentFailureRun > 0 ? [currentFailureRun] : []) }
}
