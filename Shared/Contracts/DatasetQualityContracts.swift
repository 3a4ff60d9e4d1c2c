/// The dataset-splitter's quality report of a version: what `datasets.evaluate` queues and
/// `datasets.qualityReport` answers.

public struct DatasetEvaluateAccepted: Codable, Sendable, Equatable {
    public var versionId: String
    /// False when the request was a redelivery and nothing new was queued.
    public var queued: Bool

    public init(versionId: String, queued: Bool) {
        self.versionId = versionId
        self.queued = queued
    }
}

/// Where a version's quality evaluation stands.
public enum DatasetEvaluationStatus: String, ContractEnum {
    /// Queued, not started.
    case pending
    case running
    case completed
    /// The evaluation stopped: `error` says why.
    case failed
}

/// The answer of `datasets.qualityReport`.
public struct DatasetQualityAnswer: Codable, Sendable, Equatable {
    public var versionId: String
    public var status: DatasetEvaluationStatus
    public var requestedAt: String
    /// The latest completed report: this evaluation's once completed, the previous one meanwhile.
    public var report: DatasetQualityReport?
    public var error: String?

    public init(versionId: String, status: DatasetEvaluationStatus, requestedAt: String, report: DatasetQualityReport?, error: String?) {
        self.versionId = versionId
        self.status = status
        self.requestedAt = requestedAt
        self.report = report
        self.error = error
    }
}

/// A version's quality, as one evaluation measured it. Shares are 0…1; the score is 0…100
/// (formula in DESIGN.md, "Dataset quality").
public struct DatasetQualityReport: Codable, Sendable, Equatable {
    public var versionId: String
    public var evaluatedAt: String
    public var builds: Int
    /// Builds by extraction status (`completed`, `partial`, `failed`, …).
    public var statuses: [String: Int]
    /// Overall score 0…100; nil for a version without builds.
    public var score: Double?
    public var components: DatasetQualityComponents
    public var features: [DatasetFeatureQuality]
    public var consistency: [DatasetConsistencyIssue]
    public var duplicates: DatasetDuplicates
    public var classBalance: DatasetClassBalance
    /// The builds that drag the score down most (at most 20), with their reasons.
    public var worstBuilds: [DatasetBuildIssue]
    /// The features that drag the score down most (at most 20), with their reasons.
    public var worstFeatures: [DatasetFeatureIssue]
    /// Pipelines of the spec the feature-extractor does not know (no vectors yet).
    public var pipelinesWithoutVectors: [String]

    public init(
        versionId: String, evaluatedAt: String, builds: Int, statuses: [String: Int], score: Double?, components: DatasetQualityComponents,
        features: [DatasetFeatureQuality], consistency: [DatasetConsistencyIssue], duplicates: DatasetDuplicates, classBalance: DatasetClassBalance,
        worstBuilds: [DatasetBuildIssue], worstFeatures: [DatasetFeatureIssue], pipelinesWithoutVectors: [String]
    ) {
        self.versionId = versionId
        self.evaluatedAt = evaluatedAt
        self.builds = builds
        self.statuses = statuses
        self.score = score
        self.components = components
        self.features = features
        self.consistency = consistency
        self.duplicates = duplicates
        self.classBalance = classBalance
        self.worstBuilds = worstBuilds
        self.worstFeatures = worstFeatures
        self.pipelinesWithoutVectors = pipelinesWithoutVectors
    }
}

/// The score's parts, each 0…1.
public struct DatasetQualityComponents: Codable, Sendable, Equatable {
    /// Mean over the features of the share of builds with a value.
    public var completeness: Double
    /// Share of present values that are valid (type and range).
    public var validity: Double
    /// Share of builds without a consistency issue.
    public var consistency: Double
    /// Share of builds that are not a repeat of an earlier row (same run id, or the same feature values).
    public var uniqueness: Double
    /// 2 × the minority class's share of the labelled builds (1 at 50/50, 0 with one class or no label).
    public var balance: Double

    public init(completeness: Double, validity: Double, consistency: Double, uniqueness: Double, balance: Double) {
        self.completeness = completeness
        self.validity = validity
        self.consistency = consistency
        self.uniqueness = uniqueness
        self.balance = balance
    }
}

public struct DatasetFeatureQuality: Codable, Sendable, Equatable {
    public var feature: String
    /// The type the catalogue declares (`integer`, `number`, `boolean`, `string`, `string_list`); nil when it does not know the feature.
    public var declaredType: String?
    /// Builds with a value (not null, not missing).
    public var present: Int
    /// present / builds.
    public var completeness: Double
    /// Present values of the wrong type or out of range.
    public var invalid: Int
    /// Why values were invalid, with counts (`negative value: 3`).
    public var invalidReasons: [String: Int]

    public init(feature: String, declaredType: String?, present: Int, completeness: Double, invalid: Int, invalidReasons: [String: Int]) {
        self.feature = feature
        self.declaredType = declaredType
        self.present = present
        self.completeness = completeness
        self.invalid = invalid
        self.invalidReasons = invalidReasons
    }
}

/// A kind of consistency issue with how many builds have it and a few of them.
public struct DatasetConsistencyIssue: Codable, Sendable, Equatable {
    public var issue: String
    public var builds: Int
    /// Up to 10 examples (`owner/name#runId`).
    public var examples: [String]

    public init(issue: String, builds: Int, examples: [String]) {
        self.issue = issue
        self.builds = builds
        self.examples = examples
    }
}

public struct DatasetDuplicates: Codable, Sendable, Equatable {
    /// Run ids that appear more than once, and the extra rows they make.
    public var duplicateRunIds: Int
    public var extraRowsByRunId: Int
    /// Groups of builds with identical feature values (identifiers left out), and the extra rows beyond each group's first.
    public var identicalRowGroups: Int
    public var extraIdenticalRows: Int
    /// The features compared for identical rows: the spec's minus the catalogue's `metadata` category (ids, numbers, timestamps).
    public var comparedFeatures: [String]

    public init(duplicateRunIds: Int, extraRowsByRunId: Int, identicalRowGroups: Int, extraIdenticalRows: Int, comparedFeatures: [String]) {
        self.duplicateRunIds = duplicateRunIds
        self.extraRowsByRunId = extraRowsByRunId
        self.identicalRowGroups = identicalRowGroups
        self.extraIdenticalRows = extraIdenticalRows
        self.comparedFeatures = comparedFeatures
    }
}

/// Failed vs passed by `build_successful`.
public struct DatasetClassBalance: Codable, Sendable, Equatable {
    public var passed: Int
    public var failed: Int
    /// Builds without the label (not extracted, or a failed extraction).
    public var unlabelled: Int
    /// failed / (failed + passed); nil without labelled builds.
    public var failureRate: Double?

    public init(passed: Int, failed: Int, unlabelled: Int, failureRate: Double?) {
        self.passed = passed
        self.failed = failed
        self.unlabelled = unlabelled
        self.failureRate = failureRate
    }
}

public struct DatasetBuildIssue: Codable, Sendable, Equatable {
    public var repository: String
    public var runId: Int64
    /// The build's weight in the ranking (nulls + 2 × invalid values + 5 × consistency issues + 5 if a duplicate).
    public var penalty: Int
    public var reasons: [String]

    public init(repository: String, runId: Int64, penalty: Int, reasons: [String]) {
        self.repository = repository
        self.runId = runId
        self.penalty = penalty
        self.reasons = reasons
    }
}

public struct DatasetFeatureIssue: Codable, Sendable, Equatable {
    public var feature: String
    /// Share of builds the feature lets down (missing or invalid), 0…1.
    public var impact: Double
    public var reason: String

    public init(feature: String, impact: Double, reason: String) {
        self.feature = feature
        self.impact = impact
        self.reason = reason
    }
}

