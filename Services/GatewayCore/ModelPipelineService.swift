import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Why a repository request was refused.
public enum RepositoryConfigError: Error, Equatable {
    case invalid(index: Int, reason: String)
    case duplicate([String])
}

/// The model pipeline's service layer: loads a config's ``ModelPipeline`` under a row lock, applies
/// a transition, saves the new state and issues the commands (outbox messages, jobs) in the same
/// transaction. The store only reads and writes rows; the machine only decides.
public struct ModelPipelineService: Sendable {
    let store: RepositoryConfigPostgresStore
    let postgres: PostgresClient
    let queue: JobQueue
    let directory: ServiceDirectory
    let logger: Logger

    /// The job that hands a fetched repository's builds to the ingestor.
    static let startIngestionJob = JobKind<StartIngestion>("gateway.startIngestion")
    static let jobKinds = [startIngestionJob.erased]
    /// What the model pipeline needs of each build when the import selects no features (the whole
    /// catalogue): its commit's history and its logs.
    public static let modelResources: [IngestionResource] = [.gitHistory, .buildLogs]

    struct StartIngestion: Codable, Sendable {
        var configId: Int64
    }

    /// The outcome of an applied report: the config's owner (for events), nil when it was refused.
    public typealias Applied = Int64?

    /// Validates every request first; then, in one transaction, stores the configs and requests
    /// one import each. Nothing is written when any request is invalid or a duplicate.
    func create(ownerId: Int64, requests: [(fullName: String, options: ImportOptions)]) async throws -> [RepositoryConfig] {
        for (index, request) in requests.enumerated() {
            guard RepositoryName.isValid(request.fullName) else {
                throw RepositoryConfigError.invalid(index: index, reason: "'\(request.fullName)' is not owner/name")
            }
            if let refusal = request.options.ciProvider.importRefusal {
                throw RepositoryConfigError.invalid(index: index, reason: refusal)
            }
            if let max = request.options.maxBuilds, max < 1 { throw RepositoryConfigError.invalid(index: index, reason: "maxBuilds must be at least 1") }
            if let days = request.options.sinceDays, days < 1 { throw RepositoryConfigError.invalid(index: index, reason: "sinceDays must be at least 1") }
        }
        for (index, request) in requests.enumerated() {
            guard let selection = request.options.features else { continue }
            do {
                _ = try await resolve(selection)
            } catch RPCClientError.remote(let error) where error.kind == .invalidInput {
                throw RepositoryConfigError.invalid(index: index, reason: "features: \(error.data?.reason ?? error.message)")
            }
        }
        let names = requests.map { $0.fullName.lowercased() }
        if Set(names).count != names.count {
            throw RepositoryConfigError.duplicate(Dictionary(grouping: names, by: { $0 }).filter { $0.value.count > 1 }.map(\.key))
        }
        do {
            return try await postgres.withTransaction(logger: logger) { connection in
                let taken = try await store.takenNames(ownerId: ownerId, names: names, on: connection)
                if !taken.isEmpty { throw RepositoryConfigError.duplicate(taken) }
                var configs: [RepositoryConfig] = []
                for request in requests {
                    let config = try await store.insert(ownerId: ownerId, fullName: request.fullName, options: request.options, on: connection)
                    let (_, commands) = ModelPipeline.created(autoProcess: request.options.autoProcess ?? false)
                    try await issue(commands, for: config, on: connection)
                    configs.append(config)
                }
                return configs
            }
        } catch let error as PostgresTransactionError {
            if let configError = error.closureError as? RepositoryConfigError { throw configError }
            throw error
        }
    }

    /// A feature selection as the feature-extractor, which owns the catalogue, resolves it.
    func resolve(_ selection: [String]) async throws -> ResolvedFeatureSelection {
        try await directory.client(for: .featureExtractor).call(FeatureMethods.resolve, FeatureSelectionParams(selection: selection))
    }

    /// Queues a sync of a config; false when the user has no such config.
    func requestSync(configId: Int64, ownerId: Int64?) async throws -> Bool {
        try await apply(.syncRequested, to: configId, ownerId: ownerId) != nil
    }

    /// What became of a request for feature extraction.
    enum ProcessingAnswer: Equatable {
        case accepted
        /// The user has no such config.
        case notFound
        /// The config's status does not allow it now.
        case refused(ModelPipeline.Refusal)
    }

    /// Asks for feature extraction of a config's ingested builds.
    func requestProcessing(configId: Int64, ownerId: Int64?) async throws -> ProcessingAnswer {
        try await postgres.withTransaction(logger: logger) { connection in
            guard let (config, pipeline) = try await store.lock(id: configId, ownerId: ownerId, on: connection) else { return .notFound }
            switch pipeline.transition(.processingRequested) {
            case .refused(let refusal):
                return .refused(refusal)
            case .applied(let next, let commands):
                try await store.save(id: configId, next, on: connection)
                try await issue(commands, for: config, on: connection)
                return .accepted
            }
        }
    }

    /// Deletes a config and tells the warehouse and the ingestor to forget it; false when the user
    /// has no such config.
    func delete(configId: Int64, ownerId: Int64?) async throws -> Bool {
        let deleted = try await postgres.withTransaction(logger: logger) { connection in
            guard let (config, pipeline) = try await store.lock(id: configId, ownerId: ownerId, on: connection),
                case .applied(_, let commands) = pipeline.transition(.deleted)
            else { return false }
            let githubId = try await store.delete(id: configId, on: connection)
            try await issue(commands, for: config, forgetting: githubId, on: connection)
            return true
        }
        if deleted { store.forgetSeen(id: configId) }
        return deleted
    }

    /// Applies an import report; returns the owner when it was applied (nil: stale, or the config is gone).
    func apply(_ report: ImportProgress, configId: Int64) async throws -> Applied {
        try await apply(.importReport(report), to: configId, ownerId: nil, importReport: report)
    }

    /// Applies an ingestion report; returns the owner when it was applied.
    func apply(_ report: IngestionProgress, configId: Int64) async throws -> Applied {
        try await apply(.ingestionReport(report), to: configId, ownerId: nil, ingestionReport: report)
    }

    /// Applies a processing report; returns the owner when it was applied.
    func apply(_ report: ProcessingProgress, configId: Int64) async throws -> Applied {
        try await apply(.processingReport(report), to: configId, ownerId: nil, processingReport: report)
    }

    /// Applies a prediction report; returns the owner when it was applied.
    func apply(_ report: PredictionProgress, configId: Int64) async throws -> Applied {
        try await apply(.predictionReport(report), to: configId, ownerId: nil, predictionReport: report)
    }

    private func apply(
        _ event: ModelPipeline.Event, to configId: Int64, ownerId: Int64?,
        importReport: ImportProgress? = nil, ingestionReport: IngestionProgress? = nil, processingReport: ProcessingProgress? = nil,
        predictionReport: PredictionProgress? = nil
    ) async throws -> Applied {
        try await postgres.withTransaction(logger: logger) { connection in
            // No row: the config was deleted while its import ran; the report is acknowledged.
            guard let (config, pipeline) = try await store.lock(id: configId, ownerId: ownerId, on: connection) else { return nil }
            switch pipeline.transition(event) {
            case .refused(let refusal):
                logger.debug("model pipeline refused an event", metadata: ["config": "\(configId)", "refusal": "\(refusal)"])
                return nil
            case .applied(let next, let commands):
                try await store.save(
                    id: configId, next, importReport: importReport, ingestionReport: ingestionReport, processingReport: processingReport,
                    predictionReport: predictionReport, on: connection)
                try await issue(commands, for: config, on: connection)
                return config.ownerId
            }
        }
    }

    /// Issues a transition's commands on the transaction's connection.
    private func issue(
        _ commands: [ModelPipeline.Command], for config: RepositoryConfig, forgetting githubId: Int64? = nil,
        on connection: PostgresConnection
    ) async throws {
        for command in commands {
            switch command {
            case .requestImport(let sync):
                var options = config.options
                if sync {
                    options.syncUntilExisting = true
                    options.maxBuilds = nil
                }
                let params = ImportRepositoryParams(
                    importId: String(config.id), requestId: "\(config.id)-\(UUID().uuidString)", fullName: config.fullName, options: options)
                try await Outbox.enqueue(
                    to: .sourceValidator, WarehouseMethods.importRepository, params, key: "import-request:\(params.requestId)",
                    queue: queue, on: connection)
            case .startIngestion(let sequence):
                try await queue.enqueue(
                    Self.startIngestionJob, StartIngestion(configId: config.id),
                    options: JobOptions(priority: 5, maxAttempts: 20, idempotencyKey: "ingest:\(config.id):\(sequence)"), on: connection)
            case .startProcessing:
                // The config has been fetched (processing follows an ingestion), so it knows its repository.
                guard let repository = config.repository else { continue }
                let request = ProcessFeaturesRequest(
                    pipelineId: String(config.id), githubId: repository.githubId, fullName: repository.fullName,
                    selection: config.options.features ?? [],
                    requestId: "\(config.id)-\(UUID().uuidString)")
                try await Outbox.enqueue(
                    to: .featureExtractor, FeatureMethods.process, request, key: "process-request:\(request.requestId)", queue: queue, on: connection)
            case .startPrediction:
                let request = PredictRequest(pipelineId: String(config.id), requestId: "\(config.id)-\(UUID().uuidString)")
                try await Outbox.enqueue(
                    to: .predictor, PredictionMethods.predict, request, key: "predict-request:\(request.requestId)", queue: queue, on: connection)
            case .forget:
                try await Outbox.enqueue(
                    to: .sourceValidator, WarehouseMethods.forgetRepository, ForgetRepositoryParams(importId: String(config.id), githubId: githubId),
                    key: "forget:\(config.id)", queue: queue, on: connection)
                try await Outbox.enqueue(
                    to: .ingestor, IngestionMethods.forget, IngestionPipelineParams(pipelineId: String(config.id)),
                    key: "forget-ingestion:\(config.id)", queue: queue, on: connection)
                try await Outbox.enqueue(
                    to: .featureExtractor, FeatureMethods.forget, FeaturePipelineParams(pipelineId: String(config.id)),
                    key: "forget-features:\(config.id)", queue: queue, on: connection)
                try await Outbox.enqueue(
                    to: .predictor, PredictionMethods.forget, PredictionPipelineParams(pipelineId: String(config.id)),
                    key: "forget-predictions:\(config.id)", queue: queue, on: connection)
                try await Outbox.enqueue(
                    to: .datasetSplitter, DatasetMethods.forget, DatasetVersionRef(versionId: RepositoryExport.versionId(config.id)),
                    key: "forget-exports:\(config.id)", queue: queue, on: connection)
            }
        }
    }

    /// The start-ingestion job: hands every stored build of a fetched repository to the ingestor
    /// (builds it has already are left as they are, so a sync hands over only what is new).
    func startIngestion(_ job: StartIngestion) async throws {
        guard let config = try await store.get(id: job.configId, ownerId: nil), let repository = config.repository else { return }
        let warehouse = directory.client(for: .sourceValidator)
        let ingestor = directory.client(for: .ingestor)
        // Exactly what the selected features need (a feature-extractor that is down fails the job,
        // which is retried).
        var resources = Self.modelResources
        if let selection = config.options.features { resources = try await resolve(selection).ingestion }
        var before: Int64?
        var total = 0
        repeat {
            let page = try await warehouse.call(WarehouseMethods.listBuilds, ListBuildsParams(githubId: repository.githubId, limit: 1000, beforeRunId: before))
            guard !page.builds.isEmpty else { break }
            let builds = page.builds.map { IngestionBuild(runId: $0.runId, headSha: $0.headSha, event: $0.event, createdAt: $0.createdAt) }
            _ = try await ingestor.call(IngestionMethods.start, IngestionRequest(
                pipelineId: String(config.id), fullName: repository.fullName, githubId: repository.githubId,
                resources: resources, builds: builds))
            total += builds.count
            before = page.builds.last?.runId
        } while true
        _ = try await apply(.ingestionHandedOver(builds: total), to: config.id, ownerId: nil)
    }
}
