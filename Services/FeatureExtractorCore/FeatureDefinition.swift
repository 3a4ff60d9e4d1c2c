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

    public var resources: [FeatureResource] {
        switch self {
        case .run, .buildHistory: []
        case .commitGraph, .commitDiffs: [.gitHistory]
        case .runLogs: [.buildLogs]
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

/// A feature's value; `null` when the feature is defined but has nothing to say (no earlier build).
public enum FeatureValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case null
    case integer(Int)
    case number(Double)
    case boolean(Bool)
    case string(String)
    case stringList([String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .boolean(value) }
        else if let value = try? container.decode(Int.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else { self = .stringList(try container.decode([String].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .boolean(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .stringList(let value): try container.encode(value)
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .boolean(let value): "\(value)"
        case .string(let value): value
        case .stringList(let value): value.joined(separator: "#")
        }
    }

    /// JSON does not keep 2.0 apart from 2: a value read back from JSON is made its declared type again.
    public func conformed(to type: FeatureValueType) -> FeatureValue {
        if case .integer(let value) = self, type == .number { return .number(Double(value)) }
        return self
    }

    public var int: Int? { if case .integer(let value) = self { value } else { nil } }
    public var double: Double? {
        switch self {
        case .number(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }
    public var bool: Bool? { if case .boolean(let value) = self { value } else { nil } }
    public var string: String? { if case .string(let value) = self { value } else { nil } }
    public var strings: [String]? { if case .stringList(let value) = self { value } else { nil } }
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
