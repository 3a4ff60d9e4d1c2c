import BuildRiskContracts

/// Where a repository stands in the model pipeline: its import, its ingestion, its feature
/// extraction, then the prediction of its builds (`predicting`; `processed` once every extracted
/// build is predicted, or waits for a model, which the message says).
public enum RepositoryStatus: String, Codable, Sendable, CaseIterable {
    case queued, fetching, fetched, ingesting, ingested, partial, processing, predicting, processed, failed
}

/// The model pipeline of one repository config as a value: its state, and a transition function
/// that takes a report or a request and answers the new state plus the commands to issue.
///
/// Pure: no database, no calls. The service layer (``ModelPipelineService``) loads the state under
/// a row lock, applies ``transition(_:)``, writes the new state and issues the commands in the same
/// transaction, so a command is sent if and only if the state change commits. Tested by walking
/// the whole table without a database (`ModelPipelineTests`).
public struct ModelPipeline: Sendable, Equatable {
    public var status: RepositoryStatus
    public var message: String?
    /// The highest import report applied (reports of one import are numbered; late ones are stale).
    public var importSequence: Int
    /// The highest ingestion report applied.
    public var ingestionSequence: Int
    /// The highest processing (feature extraction) report applied.
    public var processingSequence: Int
    /// The highest prediction report applied.
    public var predictionSequence: Int
    /// Whether processing starts by itself when the ingestion ends (the import's `autoProcess`).
    public var autoProcess: Bool
    /// Whether the ingestion has ended once (processing needs ingested builds).
    public var ingestionEnded: Bool

    public init(
        status: RepositoryStatus = .queued, message: String? = nil, importSequence: Int = 0, ingestionSequence: Int = 0,
        processingSequence: Int = 0, predictionSequence: Int = 0, autoProcess: Bool = false, ingestionEnded: Bool = false
    ) {
        self.status = status
        self.message = message
        self.importSequence = importSequence
        self.ingestionSequence = ingestionSequence
        self.processingSequence = processingSequence
        self.predictionSequence = predictionSequence
        self.autoProcess = autoProcess
        self.ingestionEnded = ingestionEnded
    }

    /// What can happen to a repository config.
    public enum Event: Sendable, Equatable {
        /// The user asked for a sync (newest first until a stored run).
        case syncRequested
        /// The source-validator reported on the import.
        case importReport(ImportProgress)
        /// The gateway handed `builds` fetched builds to the ingestor.
        case ingestionHandedOver(builds: Int)
        /// The ingestor reported on the ingestion.
        case ingestionReport(IngestionProgress)
        /// The user asked for feature extraction (`start-processing`, `reprocess-failed`).
        case processingRequested
        /// The feature-extractor reported on the extraction.
        case processingReport(ProcessingProgress)
        /// The predictor reported on the prediction of the extracted builds.
        case predictionReport(PredictionProgress)
        /// The user deleted the config.
        case deleted
    }

    /// What the service layer issues when a transition is applied.
    public enum Command: Sendable, Equatable {
        /// Ask the source-validator to import the repository (`sync`: newest first until a stored run).
        case requestImport(sync: Bool)
        /// Queue the job that hands the fetched builds to the ingestor; `sequence` is the import
        /// report that fetched them, so a redelivered report queues nothing twice.
        case startIngestion(sequence: Int)
        /// Ask the feature-extractor to extract the ingested builds (from its checkpoint on).
        case startProcessing
        /// Ask the predictor to predict the extracted builds that have no prediction yet.
        case startPrediction
        /// Tell the source-validator, the ingestor, the feature-extractor, the predictor and the
        /// dataset-splitter (the repository's export jobs and files) to forget the repository.
        case forget
    }

    /// Why a transition was refused; the state is left as it was and nothing is issued.
    public enum Refusal: Sendable, Equatable {
        /// A report older than (or as old as) one already applied.
        case staleReport(sequence: Int, applied: Int)
        /// The event does not apply in the current status.
        case notApplicable(RepositoryStatus)
    }

    /// The outcome of a transition.
    public enum Outcome: Sendable, Equatable {
        case applied(ModelPipeline, [Command])
        case refused(Refusal)
    }

    /// A new config: queued, with its import requested.
    public static func created(autoProcess: Bool = false) -> (ModelPipeline, [Command]) {
        (ModelPipeline(status: .queued, autoProcess: autoProcess), [.requestImport(sync: false)])
    }

    /// The transition table of the model pipeline.
    public func transition(_ event: Event) -> Outcome {
        var next = self
        switch event {
        case .syncRequested:
            // A sync may be asked for in any status; the import's own report numbers keep the order.
            next.status = .queued
            next.message = "sync queued"
            return .applied(next, [.requestImport(sync: true)])

        case .importReport(let report):
            guard report.sequence > importSequence else {
                return .refused(.staleReport(sequence: report.sequence, applied: importSequence))
            }
            next.importSequence = report.sequence
            next.message = report.message
            switch report.status {
            case .queued: next.status = .queued
            case .fetching: next.status = .fetching
            case .failed: next.status = .failed
            case .fetched:
                next.status = .fetched
                return .applied(next, [.startIngestion(sequence: report.sequence)])
            }
            return .applied(next, [])

        case .ingestionHandedOver(let builds):
            // Only a fetched config moves on: a newer report (a sync, the ingestor's own) wins.
            guard status == .fetched else { return .refused(.notApplicable(status)) }
            next.status = .ingesting
            next.message = "\(builds) builds sent to the ingestor"
            return .applied(next, [])

        case .ingestionReport(let report):
            guard report.sequence > ingestionSequence else {
                return .refused(.staleReport(sequence: report.sequence, applied: ingestionSequence))
            }
            next.ingestionSequence = report.sequence
            // A run's end reported again (two of its jobs finishing together both report it) while
            // the repository is past its ingestion changes nothing: processing is not redone.
            if report.status != .ingesting, ingestionEnded, status != .ingesting {
                return .applied(next, [])
            }
            next.message = report.message
            switch report.status {
            case .ingesting: next.status = .ingesting
            case .ingested: next.status = .ingested
            case .partial: next.status = .partial
            case .failed: next.status = .failed
            }
            // Ingested or partial builds can be processed; with `autoProcess` that starts now.
            if report.status == .ingested || report.status == .partial {
                next.ingestionEnded = true
                if autoProcess {
                    next.status = .processing
                    next.message = "processing queued"
                    return .applied(next, [.startProcessing])
                }
            }
            return .applied(next, [])

        case .processingRequested:
            // Only builds that ended their ingestion are processed, and one extraction runs at a time.
            guard ingestionEnded, status != .processing, status != .ingesting, status != .queued, status != .fetching, status != .fetched else {
                return .refused(.notApplicable(status))
            }
            next.status = .processing
            next.message = "processing queued"
            return .applied(next, [.startProcessing])

        case .processingReport(let report):
            guard report.sequence > processingSequence else {
                return .refused(.staleReport(sequence: report.sequence, applied: processingSequence))
            }
            next.processingSequence = report.sequence
            next.message = report.message
            switch report.status {
            case .processing: next.status = .processing
            case .failed: next.status = .failed
            case .processed:
                // Extraction ended: the builds are predicted next.
                next.status = .predicting
                next.message = "prediction queued"
                return .applied(next, [.startPrediction])
            }
            return .applied(next, [])

        case .predictionReport(let report):
            guard report.sequence > predictionSequence else {
                return .refused(.staleReport(sequence: report.sequence, applied: predictionSequence))
            }
            // Predictions come after extraction (or on a repredict of a processed repository); a
            // report landing while a newer sync or extraction runs leaves that status alone.
            guard status == .predicting || status == .processed else { return .refused(.notApplicable(status)) }
            next.predictionSequence = report.sequence
            next.message = report.message
            switch report.phase {
            case .predicting: next.status = .predicting
            // Builds waiting for a model end the phase too: they are predicted when one is
            // activated, and the message says why they wait.
            case .predicted, .waiting: next.status = .processed
            case .failed: next.status = .failed
            }
            return .applied(next, [])

        case .deleted:
            return .applied(next, [.forget])
        }
    }
}
