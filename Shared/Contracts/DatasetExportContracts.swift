/// The dataset-splitter's exports of a version: streamed chunks and export jobs with their files.

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
