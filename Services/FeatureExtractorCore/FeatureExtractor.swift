import BuildRiskContracts
import BuildRiskGit
import BuildRiskLogs
import Foundation

/// The features of one build under one DAG version (the FeatureVector row, without scan metrics).
public struct FeatureVector: Codable, Sendable, Equatable {
    public var runId: Int64
    public var dagVersion: String
    public var features: [String: FeatureValue]
    public var missingResources: [FeatureResource]
    /// Selected features not computed (a resource missing, a dependency skipped, or failed).
    public var skippedFeatures: [String]
    public var status: ExtractionStatus
    public var error: String?
    /// The previous build on the linearised history (TravisTorrent's `tr_prev_build`), when selected and found.
    public var trPrevBuild: Int64?
}

/// Where an extractor stands: every workflow's history and the last build processed. The service
/// stores it with its checkpoint, so processing continues with new builds without redoing old ones.
public struct ExtractorState: Codable, Sendable, Equatable {
    public var workflows: [String: WorkflowHistory] = [:]
    public var lastTriggeredAt: Date?
    public var processed = 0

    public init() {}
}

/// Computes feature vectors of one repository's builds, strictly oldest to newest, keeping the
/// history they need. Blocking (libgit2): run it on a thread pool (``BlockingWork``), one
/// repository per extractor, one thread at a time.
public final class FeatureExtractor {
    public let selection: FeatureSelection
    public private(set) var state: ExtractorState
    let git: GitReader?
    private let selectedInputs: Set<FeatureInput>

    /// `repository` is the bare clone, nil when the repository could not be cloned (git features are
    /// then skipped and reported missing, the rest still computed).
    public init(selection: FeatureSelection, repository: GitRepository?, state: ExtractorState = ExtractorState()) {
        self.selection = selection
        self.state = state
        git = repository.map(GitReader.init)
        selectedInputs = selection.inputs
    }

    /// The vector of the next build; builds must come in `createdAt` order (equal instants allowed,
    /// and then neither sees the other).
    public func extract(_ build: ExtractionBuild) throws(ExtractionError) -> FeatureVector {
        if let last = state.lastTriggeredAt, build.createdAt < last {
            throw .outOfOrder(runId: build.runId, createdAt: build.createdAt, after: last)
        }
        // Taken out of the state while it changes, so the history (thousands of commits and files)
        // is mutated in place instead of copied for every build.
        var history = state.workflows.removeValue(forKey: build.workflowName) ?? WorkflowHistory()
        history.advance(to: build.createdAt)

        // What this build lacks, as inputs (a feature reading one is skipped) and as the resources they cost.
        var unavailableInputs: Set<FeatureInput> = []
        let gitReader = git.flatMap { $0.hasCommit(build.commitSha) ? $0 : nil }
        if gitReader == nil { unavailableInputs.formUnion([.commitGraph, .commitDiffs, .commitTree]) }
        if build.logs == nil { unavailableInputs.insert(.runLogs) }
        // A run no pull request triggered needs nothing of GitHub: its pull-request features are null.
        if build.isPullRequest && build.pullRequest == nil { unavailableInputs.insert(.pullRequest) }
        if build.commitComments == nil { unavailableInputs.insert(.commitComments) }
        var unavailable: Set<FeatureResource> = [.gitWorktree]
        for input in unavailableInputs.intersection(selectedInputs) { unavailable.formUnion(input.resources) }
        let (values, skipped, errors, touched) = evaluate(build, history: history, git: gitReader, unavailable: unavailableInputs)

        history.record(WorkflowHistory.Entry(
            runId: build.runId, commitSha: build.commitSha, createdAt: build.createdAt, finishedAt: build.finishedAt,
            conclusion: build.conclusion, failed: build.failed, actor: build.actor, files: touched,
            testsFailed: build.logs.map { $0.tests.reduce(0) { $0 + $1.failed } }, logErrors: build.logs?.errorCount
        ))
        state.workflows[build.workflowName] = history
        state.lastTriggeredAt = build.createdAt
        state.processed += 1

        let missing = selection.resources.filter(unavailable.contains)
        return FeatureVector(
            runId: build.runId,
            dagVersion: selection.dagVersion,
            features: values,
            missingResources: missing,
            skippedFeatures: skipped,
            status: !errors.isEmpty ? .failed : (skipped.isEmpty ? .completed : .partial),
            error: errors.isEmpty ? nil : errors.joined(separator: "; "),
            trPrevBuild: values["tr_prev_build"]?.int.map(Int64.init)
        )
    }

    /// The commits each build will have built (its `git_all_built_commits`), worked out ahead on a
    /// copy of the state, which stays as it was, so the caller can fetch what GitHub says of those
    /// commits before extracting. Builds as ``extract(_:)`` takes them; a build whose commit is not
    /// in the clone has none.
    public func plannedBuiltCommits(_ builds: [ExtractionBuild]) -> [Int64: [String]] {
        guard let git else { return [:] }
        var workflows = state.workflows
        var result: [Int64: [String]] = [:]
        for build in builds {
            var history = workflows.removeValue(forKey: build.workflowName) ?? WorkflowHistory()
            history.advance(to: build.createdAt)
            if git.hasCommit(build.commitSha) {
                result[build.runId] = try? BuildContext(build: build, history: history, git: git).linear().commits
            }
            history.record(WorkflowHistory.Entry(
                runId: build.runId, commitSha: build.commitSha, createdAt: build.createdAt, finishedAt: build.finishedAt,
                conclusion: build.conclusion, failed: build.failed, actor: build.actor, files: nil, testsFailed: nil, logErrors: nil))
            workflows[build.workflowName] = history
        }
        return result
    }

    /// The selected features of one build, in declaration order; a feature is skipped when an
    /// input it reads is unavailable or a feature it depends on was skipped.
    private func evaluate(_ build: ExtractionBuild, history: WorkflowHistory, git: GitReader?, unavailable: Set<FeatureInput>)
        -> (values: [String: FeatureValue], skipped: [String], errors: [String], touched: [String]?) {
        let context = BuildContext(build: build, history: history, git: git)
        var skipped: [String] = []
        var errors: [String] = []
        for feature in selection.features {
            let definition = feature.definition
            if feature.definition.inputs.contains(where: unavailable.contains) || definition.dependsOn.contains(where: { context.values[$0] == nil }) {
                skipped.append(definition.name)
                continue
            }
            do {
                context.values[definition.name] = try feature.compute(context)
            } catch {
                skipped.append(definition.name)
                errors.append("\(definition.name): \(error)")
            }
        }
        return (context.values, skipped, errors, context.touchedFilesIfRead)
    }
}

/// How the previous built commit was found on the linearised history (TravisTorrent's values).
public enum PreviousCommitResolution: String, Sendable {
    /// An ancestor on the first-parent chain was built by an earlier build.
    case buildFound = "build_found"
    /// The walk met a merge commit before any built commit; the merge ends the build's commits.
    case mergeFound = "merge_found"
    /// The walk reached the root: no earlier build of an ancestor.
    case noPreviousBuild = "no_previous_build"
}

/// The build's commits on the linearised history, back to the previous built commit.
struct LinearHistory {
    /// Newest first, the build's own commit first.
    var commits: [String]
    var previousBuiltCommit: String?
    var previousBuild: Int64?
    var resolution: PreviousCommitResolution
}

/// One build's evaluation: the values so far and the inputs read for them (each at most once).
final class BuildContext {
    let build: ExtractionBuild
    let history: WorkflowHistory
    private let gitReader: GitReader?
    var values: [String: FeatureValue] = [:]

    private var linearHistory: LinearHistory?
    private var builtCommitChanges: [CommitChanges]?
    private var touchedFiles: [String]?
    private var teamWindow: [Int32]?
    private var treeSnapshot: TreeSnapshot?

    /// The window TravisTorrent's team features look back over ("3 months").
    static let teamWindow: TimeInterval = 90 * 24 * 3600

    init(build: ExtractionBuild, history: WorkflowHistory, git: GitReader?) {
        self.build = build
        self.history = history
        gitReader = git
    }

    var git: GitReader {
        get throws {
            // Features needing git_history are skipped before they run when there is no reader.
            guard let gitReader else { throw ExtractionError.badInput("no git history for \(build.commitSha)") }
            return gitReader
        }
    }

    var logs: RunLogFacts {
        get throws {
            guard let logs = build.logs else { throw ExtractionError.badInput("no logs for run \(build.runId)") }
            return logs
        }
    }

    /// TravisTorrent's walk: from the build's commit along first parents until a commit an earlier
    /// build built (build_found), a merge commit (merge_found, the merge is the build's last commit)
    /// or the root (no_previous_build).
    func linear() throws -> LinearHistory {
        if let linearHistory { return linearHistory }
        let reader = try git
        var commits = [build.commitSha]
        var current = try reader.commit(build.commitSha)
        var result: LinearHistory
        while true {
            if current.isMerge {
                result = LinearHistory(commits: commits, previousBuiltCommit: nil, previousBuild: nil, resolution: .mergeFound)
                break
            }
            guard let parent = current.parents.first else {
                result = LinearHistory(commits: commits, previousBuiltCommit: nil, previousBuild: nil, resolution: .noPreviousBuild)
                break
            }
            if let run = history.builtCommits[parent] {
                result = LinearHistory(commits: commits, previousBuiltCommit: parent, previousBuild: run, resolution: .buildFound)
                break
            }
            commits.append(parent)
            current = try reader.commit(parent)
        }
        linearHistory = result
        return result
    }

    /// The changes of each of the build's commits.
    func builtChanges() throws -> [CommitChanges] {
        if let builtCommitChanges { return builtCommitChanges }
        let reader = try git
        let result = try linear().commits.map { try reader.changes(of: $0) }
        builtCommitChanges = result
        return result
    }

    /// Every path the build's commits touched.
    func touched() throws -> [String] {
        if let touchedFiles { return touchedFiles }
        let result = Array(Set(try builtChanges().flatMap(\.paths))).sorted()
        touchedFiles = result
        return result
    }

    var touchedFilesIfRead: [String]? { touchedFiles }

    /// The build commit's whole tree, measured.
    func snapshot() throws -> TreeSnapshot {
        if let treeSnapshot { return treeSnapshot }
        let result = try git.trees.snapshot(ofCommit: build.commitSha)
        treeSnapshot = result
        return result
    }

    /// Commits (reader ids) reachable from the build's commit whose committer time is within 90 days
    /// before the build was triggered; the walk stops at older commits, as `git rev-list --since` does.
    func window() throws -> [Int32] {
        if let teamWindow { return teamWindow }
        let result = try git.window(from: build.commitSha, since: build.createdAt.addingTimeInterval(-Self.teamWindow))
        teamWindow = result
        return result
    }
}
