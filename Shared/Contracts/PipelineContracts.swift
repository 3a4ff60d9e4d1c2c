/// Methods the gateway serves to the other services.
public enum GatewayMethods {
    /// A service reports that a pipeline step finished (sent through the sender's outbox).
    /// The source-validator reports how an import is going (sent through its outbox).
    public static let importProgress = RPCMethod<ImportProgress, Empty>(
        "pipeline.importProgress",
        summary: "Records an import's progress on the repository config; a report older (by sequence) than the one recorded is ignored."
    )
    /// The ingestor reports how a pipeline's ingestion is going (sent through its outbox).
    public static let ingestionProgress = RPCMethod<IngestionProgress, Empty>(
        "pipeline.ingestionProgress",
        summary: "Records a pipeline's ingestion progress (counts by final build status); a report older (by sequence) than the one recorded is ignored."
    )
    /// The feature-extractor reports how a pipeline's feature extraction is going (sent through its outbox).
    public static let processingProgress = RPCMethod<ProcessingProgress, Empty>(
        "pipeline.processingProgress",
        summary: "Records a pipeline's feature-extraction progress (counts by extraction status, the builds extracted since the last report); a report older (by sequence) than the one recorded is ignored."
    )
    /// The source-validator says a build source's validation moved on (sent through its outbox).
    public static let sourceProgress = RPCMethod<BuildSourceRef, Empty>(
        "pipeline.sourceProgress",
        summary: "A build source's validation moved on: the gateway reads the source's current status and pushes it to admins as SOURCE_UPDATE (so reports delivered out of order never show an older state)."
    )
    /// The active model changed (sent through the registry's outbox, beside the predictor's
    /// `predictions.activeModelChanged`).
    public static let activeModelChanged = RPCMethod<ActiveModelChange, Empty>(
        "pipeline.activeModelChanged",
        summary: "The active version of a model name changed (sent through the registry's outbox): the gateway forgets the predictor's answers it kept and keeps only answers of the new version from then on; a change older (by sequence) than the one it knows is ignored."
    )
    public static let reportStep = RPCMethod<StepReport, StepReportAck>(
        "pipeline.reportStep",
        summary: "Records that a pipeline step finished in a service; idempotent by messageId, so a redelivered report is acknowledged without being recorded twice."
    )
}

/// The state a reported step ended in.
public enum StepOutcome: String, Codable, Sendable, CaseIterable {
    case completed
    case partial
    case failed
}

/// A service's report that a step of a pipeline record finished.
public struct StepReport: Codable, Sendable, Equatable {
    /// Unique per report; the gateway records a report once per messageId.
    public var messageId: String
    public var service: ServiceName
    /// The pipeline the record belongs to, e.g. "model", "dataset", "scenario".
    public var pipeline: String
    public var recordId: String
    public var step: String
    public var outcome: StepOutcome
    public var detail: String?

    public init(
        messageId: String, service: ServiceName, pipeline: String, recordId: String, step: String,
        outcome: StepOutcome, detail: String? = nil
    ) {
        self.messageId = messageId
        self.service = service
        self.pipeline = pipeline
        self.recordId = recordId
        self.step = step
        self.outcome = outcome
        self.detail = detail
    }
}

/// The gateway's acknowledgement of a ``StepReport``.
public struct StepReportAck: Codable, Sendable, Equatable {
    public var messageId: String
    /// True when this messageId had been recorded before (a redelivery).
    public var duplicate: Bool

    public init(messageId: String, duplicate: Bool) {
        self.messageId = messageId
        self.duplicate = duplicate
    }
}
