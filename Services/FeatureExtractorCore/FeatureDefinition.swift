import BuildRiskContracts
import Foundation

/// The families features are grouped in (the seed pipelines' categories).
public enum FeatureCategory: String, Codable, Sendable, CaseIterable {
    case buildLog = "build_log"
    case gitHistory = "git_history"
    case gitDiff = "git_diff"
    case repoSnapshot = "repo_snapshot"
    case prInfo = "pr_info"
    case discussion
    case team
    case metadata
    case workflow
    case devops
    case buildHistory = "build_history"
    case committer
    case cooperation
}

/// The JSON shape of a feature's value.
public enum FeatureValueType: String, Codable, Sendable {
    case integer, number, boolean, string
    case stringList = "string_list"
}

/// What must have been ingested for a feature to be computed.
public enum FeatureResource: String, Codable, Sendable, CaseIterable, Comparable {
    case gitHistory = "git_history"
    case gitWorktree = "git_worktree"
    case buildLogs = "build_logs"
    case githubAPI = "github_api"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The data a computation reads; each input costs the resources it names.
public enum FeatureInput: String, Codable, Sendable, CaseIterable {
    /// The workflow run itself: event, branch, actor, times, conclusion.
    case run
    /// Earlier builds of the same workflow and, for those finished before this one was triggered, their outcomes.
    case buildHistory = "build_history"
    /// Commits reachable from the build's commit (parents, authors, times).
    case commitGraph = "commit_graph"
    /// Tree-to-tree diffs of commits (per file: status, lines added and deleted).
    case commitDiffs = "commit_diffs"
    /// The run's parsed logs (jobs, steps, durations, test counts, errors).
    case runLogs = "run_logs"
    /// Every file of the build commit's tree, read from the object database (no worktree).
    case commitTree = "commit_tree"
    /// The pull request the run built and its discussion, from GitHub's API.
    case pullRequest = "pull_request"
    /// The comments on the build's commits (`GET /repos/{owner}/{repo}/commits/{sha}/comments`), from GitHub's API.
    case commitComments = "commit_comments"

    public var resources: [FeatureResource] {
        switch self {
        case .run, .buildHistory: []
        case .commitGraph, .commitDiffs, .commitTree: [.gitHistory]
        case .runLogs: [.buildLogs]
        case .pullRequest, .commitComments: [.githubAPI]
        }
    }
}

/// Whether a feature is known when the build is triggered, or only once it has run (kept for
/// export, never used to predict that build).
public enum FeatureTiming: String, Codable, Sendable {
    case pre
    case post
}

/// The datasets and tools whose fields BuildRisk reproduces.
public enum FeatureAnchor: String, Codable, Sendable, CaseIterable {
    case travisTorrent = "travistorrent"
    case ghaMiner = "ghaminer"
    case buildFast = "buildfast"
}

/// A field of an anchor a feature corresponds to.
public struct FeatureSource: Codable, Sendable, Equatable, Hashable {
    public var anchor: FeatureAnchor
    public var field: String

    public init(_ anchor: FeatureAnchor, _ field: String) {
        self.anchor = anchor
        self.field = field
    }
}

/// A feature's declaration: everything the catalogue says about it.
public struct FeatureDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var category: FeatureCategory
    public var type: FeatureValueType
    public var timing: FeatureTiming
    /// Other features whose values this one is computed from.
    public var dependsOn: [String]
    public var inputs: [FeatureInput]
    /// Derived: the inputs' resources and those of the features depended on.
    public var resources: [FeatureResource]
    public var definition: String
    /// The anchor fields this feature reproduces; empty for a feature new to BuildRisk.
    public var sources: [FeatureSource]
}

/// An anchor field BuildRisk does not reproduce, and why.
public struct UncoveredField: Codable, Sendable, Equatable {
    public var anchor: FeatureAnchor
    public var field: String
    public var reason: String

    public init(_ anchor: FeatureAnchor, _ field: String, _ reason: String) {
        self.anchor = anchor
        self.field = field
        self.reason = reason
    }
}
