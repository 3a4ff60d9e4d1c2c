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

/// Where a column of the version comes from.
public enum DatasetColumnSource: String, ContractEnum {
    /// repository, run_id, commit_sha, extraction_status.
    case build
    case feature
    case scanMetric = "scan_metric"
    /// prediction_status, risk_level, risk_score, risk_uncertainty, model_name, model_version.
    case prediction
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
