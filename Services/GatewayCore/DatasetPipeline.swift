import BuildRiskContracts

/// Where a dataset version stands in the dataset-enrichment pipeline: its found builds handed to
/// the ingestor (`ingesting`), ingested (`ingested`, or `partial` when some builds miss a resource
/// or failed), their features extracted (`processing` → `processed`). Scans run beside the
/// extraction and do not hold it up: a version is `processed` when its features are, and its
/// enrichment is complete when its scans are too (read from the scanner-bridge).
public enum DatasetVersionStatus: String, Codable, Sendable, CaseIterable {
    case queued, ingesting, ingested, partial, processing, processed, failed
}

/// The dataset-enrichment pipeline of one dataset version as a value, in the shape of
/// ``ModelPipeline``: a transition function from a report or a request to the new state plus the
/// commands to issue. Pure: no database, no calls; ``DatasetPipelineService`` loads the state under
/// a row lock, applies the transition, saves it and issues the commands in one transaction.
///
/// A version spans repositories, and the ingestor and the feature-extractor keep one pipeline per
/// repository, so the state holds each repository's last applied reports; the version's status is
/// what they add up to. Tested by walking the table without a database (`DatasetPipelineTests`).
public struct DatasetPipeline: Sendable, Equatable {
    public var status: DatasetVersionStatus
    public var message: String?
    /// Each repository of the version by GitHub id, with its found builds and last reports.
    public var repositories: [Int64: Repository]
    /// Whether the version selected a scan tool (scans are requested when processing starts).
    public var scans: Bool

    /// One repository's part of the version.
    public struct Repository: Sendable, Equatable {
        /// Found builds handed to the ingestor.
        public var builds: Int
        public var ingestion: IngestionProgress?
        /// The current extraction's last report; nil until one arrives after processing was asked for.
        public var processing: ProcessingProgress?
        /// The highest processing report applied (kept when a new extraction clears ``processing``,
        /// so a late report of the previous one is still stale).
        public var processingSequence: Int

        public init(builds: Int, ingestion: IngestionProgress? = nil, processing: ProcessingProgress? = nil, processingSequence: Int? = nil) {
            self.builds = builds
            self.ingestion = ingestion
            self.processing = processing
            self.processingSequence = processingSequence ?? processing?.sequence ?? 0
        }

        var ingestionEnded: Bool { ingestion.map { $0.status != .ingesting } ?? false }
        var ingested: Int { ingestion?.counts.ingested ?? 0 }
        var ingestionFailed: Int { ingestion?.counts.failed ?? 0 }
        var processingEnded: Bool { processing.map { $0.status != .processing } ?? false }
    }

    public init(status: DatasetVersionStatus = .queued, message: String? = nil, repositories: [Int64: Repository] = [:], scans: Bool = false) {
        self.status = status
        self.message = message
        self.repositories = repositories
        self.scans = scans
    }

    public enum Event: Sendable, Equatable {
        /// The start-ingestion job is about to hand a repository's found builds to the ingestor:
        /// `builds` so far in this run of the job (a rerun after a crash counts again from zero,
        /// so the larger count is kept). Recorded before the builds leave, so the ingestor's
        /// reports always meet a repository the version knows.
        case repositoryHandedOver(githubId: Int64, builds: Int)
        /// The start-ingestion job handed every found build over.
        case ingestionHandedOver
        /// The ingestor reported on one repository's pipeline.
        case ingestionReport(githubId: Int64, IngestionProgress)
        /// The user asked for feature extraction (and the scans) of the ingested builds.
        case processingRequested
        /// The feature-extractor reported on one repository's pipeline.
        case processingReport(githubId: Int64, ProcessingProgress)
        /// The user asked to ingest the failed builds again.
        case retryIngestionRequested
        /// The user asked to extract the failed builds again.
        case retryProcessingRequested
        case deleted
    }

    public enum Command: Sendable, Equatable {
        /// Queue the job that hands the version's found builds to the ingestor.
        case startIngestion
        /// Ask the feature-extractor to extract these repositories' ingested builds.
        case startProcessing([Int64])
        /// Queue the job that asks the scanner-bridge to scan the ingested builds' commits.
        case requestScans
        /// Ask the ingestor to ingest these repositories' failed builds again.
        case retryIngestion([Int64])
        /// Ask the feature-extractor to extract these repositories' failed builds again.
        case retryProcessing([Int64])
        /// Ask the dataset-splitter for the version's quality report.
        case evaluate
        /// Tell every service to forget the version's pipelines.
        case forget([Int64])
    }

    public enum Refusal: Sendable, Equatable {
        case staleReport(sequence: Int, applied: Int)
        /// A report for a repository the version does not have.
        case unknownRepository(Int64)
        case notApplicable(DatasetVersionStatus)
        /// Nothing to do: no failed builds to retry, no ingested build to process.
        case nothingToDo(String)
    }

    public enum Outcome: Sendable, Equatable {
        case applied(DatasetPipeline, [Command])
        case refused(Refusal)
    }

    /// A new version: queued, its ingestion to be started.
    public static func created(scans: Bool) -> (DatasetPipeline, [Command]) {
        (DatasetPipeline(status: .queued, message: "ingestion queued", scans: scans), [.startIngestion])
    }

    private var sortedIds: [Int64] { repositories.keys.sorted() }

    public func transition(_ event: Event) -> Outcome {
        var next = self
        switch event {
        case .repositoryHandedOver(let githubId, let builds):
            guard status == .queued else { return .refused(.notApplicable(status)) }
            next.repositories[githubId, default: Repository(builds: 0)].builds = max(repositories[githubId]?.builds ?? 0, builds)
            return .applied(next, [])

        case .ingestionHandedOver:
            guard status == .queued else { return .refused(.notApplicable(status)) }
            guard !repositories.isEmpty else {
                next.status = .failed
                next.message = "the dataset has no found builds to ingest"
                return .applied(next, [])
            }
            // Reports that arrived while the builds were handed over count now.
            next.settleIngestion()
            if next.status == .ingesting {
                next.message = "\(repositories.values.reduce(0) { $0 + $1.builds }) builds of \(repositories.count) repositories sent to the ingestor"
            }
            return .applied(next, [])

        case .ingestionReport(let githubId, let report):
            guard var repository = repositories[githubId] else { return .refused(.unknownRepository(githubId)) }
            let applied = repository.ingestion?.sequence ?? 0
            guard report.sequence > applied else { return .refused(.staleReport(sequence: report.sequence, applied: applied)) }
            repository.ingestion = report
            next.repositories[githubId] = repository
            // While the builds are still handed over, or once the features are extracted, a report
            // records the repository's counts only.
            guard status == .ingesting else { return .applied(next, []) }
            next.settleIngestion()
            return .applied(next, [])

        case .processingRequested:
            guard status == .ingested || status == .partial || status == .processed || (status == .failed && ingestionEnded) else {
                return .refused(.notApplicable(status))
            }
            let ids = sortedIds.filter { repositories[$0]!.ingested > 0 }
            guard !ids.isEmpty else { return .refused(.nothingToDo("no build of the version was ingested")) }
            for id in ids { next.repositories[id]!.processing = nil }
            next.status = .processing
            next.message = "processing queued for \(ids.count) repositories" + (scans ? "; scans queued" : "")
            return .applied(next, [.startProcessing(ids)] + (scans ? [.requestScans] : []))

        case .processingReport(let githubId, let report):
            guard var repository = repositories[githubId] else { return .refused(.unknownRepository(githubId)) }
            let applied = repository.processingSequence
            guard report.sequence > applied else { return .refused(.staleReport(sequence: report.sequence, applied: applied)) }
            guard status == .processing else { return .refused(.notApplicable(status)) }
            repository.processing = report
            repository.processingSequence = report.sequence
            next.repositories[githubId] = repository
            let started = repositories.filter { $0.value.ingested > 0 }.keys
            guard started.allSatisfy({ next.repositories[$0]!.processingEnded }) else {
                next.message = report.message
                return .applied(next, [])
            }
            let processed = started.filter { next.repositories[$0]!.processing!.status == .processed }
            if processed.isEmpty {
                next.status = .failed
                next.message = "feature extraction failed: " + started.sorted().compactMap { next.repositories[$0]!.processing?.message }.joined(separator: "; ")
                return .applied(next, [])
            }
            next.status = .processed
            let failed = started.count - processed.count
            next.message = "features extracted" + (failed > 0 ? "; \(failed) repositories failed" : "") + "; quality report queued"
            return .applied(next, [.evaluate])

        case .retryIngestionRequested:
            guard status != .ingesting, status != .processing, status != .queued, ingestionEnded else { return .refused(.notApplicable(status)) }
            let ids = sortedIds.filter { repositories[$0]!.ingestionFailed > 0 }
            guard !ids.isEmpty else { return .refused(.nothingToDo("no build failed its ingestion")) }
            next.status = .ingesting
            next.message = "ingesting the failed builds of \(ids.count) repositories again"
            return .applied(next, [.retryIngestion(ids)])

        case .retryProcessingRequested:
            guard status == .processed || (status == .failed && repositories.values.contains(where: { $0.processing != nil })) else {
                return .refused(.notApplicable(status))
            }
            let ids = sortedIds.filter { id in
                guard let processing = repositories[id]!.processing else { return false }
                return processing.status == .failed || processing.counts.failed > 0
            }
            guard !ids.isEmpty else { return .refused(.nothingToDo("no build failed its extraction")) }
            next.status = .processing
            next.message = "extracting the failed builds of \(ids.count) repositories again"
            return .applied(next, [.retryProcessing(ids)])

        case .deleted:
            return .applied(next, [.forget(sortedIds)])
        }
    }

    /// Whether every repository's ingestion has ended.
    var ingestionEnded: Bool { !repositories.isEmpty && repositories.values.allSatisfy(\.ingestionEnded) }

    /// The version's status once every repository's ingestion ended: ingested when each ingested
    /// everything, failed when none ingested a build, partial otherwise.
    private mutating func settleIngestion() {
        guard ingestionEnded else {
            status = .ingesting
            let ended = repositories.values.filter(\.ingestionEnded).count
            message = "\(ended) of \(repositories.count) repositories ingested"
            return
        }
        let ingested = repositories.values.reduce(0) { $0 + $1.ingested }
        let total = repositories.values.reduce(0) { $0 + ($1.ingestion?.counts.total ?? 0) }
        if ingested == 0 {
            status = .failed
            message = "no build could be ingested"
        } else if repositories.values.allSatisfy({ $0.ingestion?.status == .ingested }) {
            status = .ingested
            message = "\(ingested) builds ingested"
        } else {
            status = .partial
            message = "\(ingested) of \(total) builds ingested; the others miss a resource or failed"
        }
    }
}
