/// Methods the dataset-splitter serves: a dataset version's quality report, data view, statistics
/// and exports. Every method reads the version's builds from the feature-extractor page by page
/// (`features.vectors`), never the whole version at once.
public enum DatasetMethods {
    public static let evaluate = RPCMethod<EvaluateDatasetParams, DatasetEvaluateAccepted>(
        "datasets.evaluate",
        summary: "Queues the quality evaluation of a dataset version (completeness, validity, consistency, duplicates, class balance, an overall score); the report replaces the version's latest when done. Idempotent per request."
    )
    public static let qualityReport = RPCMethod<DatasetVersionRef, DatasetQualityAnswer>(
        "datasets.qualityReport",
        summary: "The version's latest quality report, with status pending or running while an evaluation is under way (the previous report, if any, beside it); not found when the version was never evaluated."
    )
    public static let data = RPCMethod<DatasetDataParams, DatasetDataPage>(
        "datasets.data",
        summary: "A page of the version's rows (repository, run_id, commit_sha, extraction_status, the features in the spec's order, the scan metrics sorted by name) and per-column statistics over the whole version."
    )
    public static let distribution = RPCMethod<DatasetDistributionParams, DatasetDistribution>(
        "datasets.distribution",
        summary: "One column's distribution over the version: histogram bins for numbers, category counts otherwise, each with its failed/passed split, and the missing count."
    )
    public static let correlation = RPCMethod<DatasetCorrelationParams, DatasetCorrelation>(
        "datasets.correlation",
        summary: "Pearson and Spearman correlation matrices of the version's numeric and boolean columns (null where undefined), with the pairwise complete observation counts."
    )
    public static let exportChunk = RPCMethod<DatasetExportChunkParams, DatasetExportChunk>(
        "datasets.exportChunk",
        summary: "A chunk of the version's export as CSV (RFC 4180, header on the first chunk) or JSON lines, and the cursor of the next chunk (none after the last)."
    )
    public static let startExport = RPCMethod<DatasetStartExportParams, DatasetExportJob>(
        "datasets.startExport",
        summary: "Queues an export job writing the whole version to a file in the exports directory, named by the service. Idempotent per request."
    )
    public static let exportJobs = RPCMethod<DatasetVersionRef, DatasetExportJobList>(
        "datasets.exportJobs",
        summary: "The version's export jobs, newest first, with progress, and the file of each completed one."
    )
    public static let exportJob = RPCMethod<DatasetExportJobParams, DatasetExportJob>(
        "datasets.exportJob",
        summary: "One export job: queued, running (rows written of the total), completed (rows, bytes, file) or failed (the reason)."
    )
    public static let forget = RPCMethod<DatasetVersionRef, DatasetForgetResult>(
        "datasets.forget",
        summary: "Deletes a version's quality reports and export jobs, and the export files (the version was deleted)."
    )
}

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

/// Where a column of the version comes from.
public enum DatasetColumnSource: String, ContractEnum {
    /// repository, run_id, commit_sha, extraction_status.
    case build
    case feature
    case scanMetric = "scan_metric"
}

/// A column's value type (the catalogue's words).
public enum DatasetColumnType: String, ContractEnum {
    case integer
    case number
    case boolean
    case string
    case stringList = "string_list"
}

public struct DatasetColumn: Codable, Sendable, Equatable {
    public var name: String
    public var source: DatasetColumnSource
    public var type: DatasetColumnType

    public init(name: String, source: DatasetColumnSource, type: DatasetColumnType) {
        self.name = name
        self.source = source
        self.type = type
    }
}

public struct DatasetDataParams: Codable, Sendable, Equatable {
    public var spec: DatasetVersionSpec
    /// Rows to skip from the start (ignored with a cursor).
    public var offset: Int?
    /// The `nextCursor` of the previous page.
    public var cursor: String?
    /// 1…1000.
    public var limit: Int
    /// Per-column statistics over the whole version (a pass over every build); false for a preview.
    public var withStatistics: Bool

    public init(spec: DatasetVersionSpec, offset: Int? = nil, cursor: String? = nil, limit: Int, withStatistics: Bool = true) {
        self.spec = spec
        self.offset = offset
        self.cursor = cursor
        self.limit = limit
        self.withStatistics = withStatistics
    }
}

public struct DatasetDataPage: Codable, Sendable, Equatable {
    public var versionId: String
    public var columns: [DatasetColumn]
    /// One array per build, aligned with `columns`.
    public var rows: [[FeatureValue]]
    /// Builds in the version.
    public var total: Int
    /// The next page's cursor; nil after the last page.
    public var nextCursor: String?
    /// Per column, in column order; empty when not asked for.
    public var statistics: [DatasetColumnStatistics]

    public init(versionId: String, columns: [DatasetColumn], rows: [[FeatureValue]], total: Int, nextCursor: String?, statistics: [DatasetColumnStatistics]) {
        self.versionId = versionId
        self.columns = columns
        self.rows = rows
        self.total = total
        self.nextCursor = nextCursor
        self.statistics = statistics
    }
}

/// A column's statistics over the whole version: min, max, mean, std for numbers, the most
/// frequent values for the others.
public struct DatasetColumnStatistics: Codable, Sendable, Equatable {
    public var column: String
    /// Values present.
    public var count: Int
    /// Builds without a value.
    public var missing: Int
    public var min: Double?
    public var max: Double?
    public var mean: Double?
    /// Sample standard deviation (n − 1); nil below two values.
    public var std: Double?
    /// The most frequent values (at most 10), for strings, booleans and lists (each element counted).
    public var topValues: [DatasetValueCount]?
    /// Distinct values counted; when it reaches 1,000, later new values are counted only in `otherValues`.
    public var distinct: Int?
    public var otherValues: Int?

    public init(
        column: String, count: Int, missing: Int, min: Double? = nil, max: Double? = nil, mean: Double? = nil, std: Double? = nil,
        topValues: [DatasetValueCount]? = nil, distinct: Int? = nil, otherValues: Int? = nil
    ) {
        self.column = column
        self.count = count
        self.missing = missing
        self.min = min
        self.max = max
        self.mean = mean
        self.std = std
        self.topValues = topValues
        self.distinct = distinct
        self.otherValues = otherValues
    }
}

public struct DatasetValueCount: Codable, Sendable, Equatable {
    public var value: String
    public var count: Int

    public init(value: String, count: Int) {
        self.value = value
        self.count = count
    }
}

public struct DatasetDistributionParams: Codable, Sendable, Equatable {
    public var spec: DatasetVersionSpec
    /// A feature or scan-metric column of the version.
    public var feature: String
    /// Histogram bins for a numeric column, 1…200 (20 when absent).
    public var bins: Int?

    public init(spec: DatasetVersionSpec, feature: String, bins: Int? = nil) {
        self.spec = spec
        self.feature = feature
        self.bins = bins
    }
}

public enum DatasetDistributionKind: String, ContractEnum {
    case histogram
    case categories
}

public struct DatasetDistribution: Codable, Sendable, Equatable {
    public var versionId: String
    public var feature: String
    public var kind: DatasetDistributionKind
    /// Builds in the version.
    public var total: Int
    /// Builds without a value.
    public var missing: Int
    /// For numbers: equal-width bins from the minimum to the maximum, the last one closed.
    public var bins: [DatasetHistogramBin]?
    /// For strings, booleans and lists (each element counted): the 50 most frequent, then `other`.
    public var categories: [DatasetCategoryCount]?

    public init(versionId: String, feature: String, kind: DatasetDistributionKind, total: Int, missing: Int, bins: [DatasetHistogramBin]?, categories: [DatasetCategoryCount]?) {
        self.versionId = versionId
        self.feature = feature
        self.kind = kind
        self.total = total
        self.missing = missing
        self.bins = bins
        self.categories = categories
    }
}

/// `[lower, upper)` (the last bin `[lower, upper]`), its builds and their class split
/// (builds without the label count in `count` only).
public struct DatasetHistogramBin: Codable, Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public var count: Int
    public var failed: Int
    public var passed: Int

    public init(lower: Double, upper: Double, count: Int, failed: Int, passed: Int) {
        self.lower = lower
        self.upper = upper
        self.count = count
        self.failed = failed
        self.passed = passed
    }
}

public struct DatasetCategoryCount: Codable, Sendable, Equatable {
    public var value: String
    public var count: Int
    public var failed: Int
    public var passed: Int

    public init(value: String, count: Int, failed: Int, passed: Int) {
        self.value = value
        self.count = count
        self.failed = failed
        self.passed = passed
    }
}

public struct DatasetCorrelationParams: Codable, Sendable, Equatable {
    public var spec: DatasetVersionSpec
    /// Numeric or boolean columns of the version (at least two); every such column when absent.
    public var features: [String]?

    public init(spec: DatasetVersionSpec, features: [String]? = nil) {
        self.spec = spec
        self.features = features
    }
}

public struct DatasetCorrelation: Codable, Sendable, Equatable {
    public var versionId: String
    public var features: [String]
    /// `pearson[i][j]`; null where undefined (fewer than two pairs, or a constant column).
    public var pearson: [[Double?]]
    public var spearman: [[Double?]]
    /// Pairwise complete observations.
    public var n: [[Int]]
    /// Builds the matrices were computed on; below the version's builds when it was sampled.
    public var rows: Int
    public var sampled: Bool

    public init(versionId: String, features: [String], pearson: [[Double?]], spearman: [[Double?]], n: [[Int]], rows: Int, sampled: Bool) {
        self.versionId = versionId
        self.features = features
        self.pearson = pearson
        self.spearman = spearman
        self.n = n
        self.rows = rows
        self.sampled = sampled
    }
}

public enum DatasetExportFormat: String, ContractEnum {
    case csv
    case jsonl

    public var fileExtension: String { rawValue }
}

public struct DatasetExportChunkParams: Codable, Sendable, Equatable {
    public var spec: DatasetVersionSpec
    public var format: DatasetExportFormat
    /// The previous chunk's `nextCursor`; absent for the first chunk.
    public var cursor: String?
    /// Rows in this chunk, 1…1000.
    public var limit: Int

    public init(spec: DatasetVersionSpec, format: DatasetExportFormat, cursor: String? = nil, limit: Int) {
        self.spec = spec
        self.format = format
        self.cursor = cursor
        self.limit = limit
    }
}

public struct DatasetExportChunk: Codable, Sendable, Equatable {
    public var text: String
    public var rows: Int
    /// nil after the last chunk.
    public var nextCursor: String?

    public init(text: String, rows: Int, nextCursor: String?) {
        self.text = text
        self.rows = rows
        self.nextCursor = nextCursor
    }
}

public struct DatasetStartExportParams: Codable, Sendable, Equatable {
    public var spec: DatasetVersionSpec
    public var format: DatasetExportFormat
    public var requestId: String

    public init(spec: DatasetVersionSpec, format: DatasetExportFormat, requestId: String) {
        self.spec = spec
        self.format = format
        self.requestId = requestId
    }
}

public enum DatasetExportStatus: String, ContractEnum {
    case queued
    case running
    case completed
    case failed
}

public struct DatasetExportJob: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var versionId: String
    public var format: DatasetExportFormat
    public var status: DatasetExportStatus
    public var rowsWritten: Int
    /// Builds in the version when the job started.
    public var totalRows: Int?
    public var bytes: Int64?
    /// The file, relative to the exports directory (`<jobId>.<csv|jsonl>`), once completed.
    public var fileName: String?
    public var error: String?
    public var createdAt: String
    public var finishedAt: String?

    public init(
        jobId: Int64, versionId: String, format: DatasetExportFormat, status: DatasetExportStatus, rowsWritten: Int, totalRows: Int?, bytes: Int64?,
        fileName: String?, error: String?, createdAt: String, finishedAt: String?
    ) {
        self.jobId = jobId
        self.versionId = versionId
        self.format = format
        self.status = status
        self.rowsWritten = rowsWritten
        self.totalRows = totalRows
        self.bytes = bytes
        self.fileName = fileName
        self.error = error
        self.createdAt = createdAt
        self.finishedAt = finishedAt
    }
}

public struct DatasetExportJobList: Codable, Sendable, Equatable {
    public var jobs: [DatasetExportJob]

    public init(jobs: [DatasetExportJob]) {
        self.jobs = jobs
    }
}

public struct DatasetExportJobParams: Codable, Sendable, Equatable {
    public var jobId: Int64

    public init(jobId: Int64) {
        self.jobId = jobId
    }
}

public struct DatasetForgetResult: Codable, Sendable, Equatable {
    public var reportsDeleted: Int
    public var exportsDeleted: Int
    public var filesDeleted: Int

    public init(reportsDeleted: Int, exportsDeleted: Int, filesDeleted: Int) {
        self.reportsDeleted = reportsDeleted
        self.exportsDeleted = exportsDeleted
        self.filesDeleted = filesDeleted
    }
}
