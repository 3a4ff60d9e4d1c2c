import BuildRiskContracts
import BuildRiskLearning
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import PostgresNIO

/// The training-orchestrator's settings.
public enum TrainingOrchestratorSettings {
    public static let workers: Setting<Int> = .integer(
        "TRAINING_WORKERS", default: 1, in: 1...64,
        meaning: "trainings one replica runs at once (each uses every core XGBoost finds); further jobs wait in the queue by priority")
    public static let settings = [workers.declaration] + RetentionPolicy.settings
}

/// The training-orchestrator: a priority queue of training jobs run by a bounded pool of
/// workers, experiments, and the model registry (exactly one active version per model name).
public enum TrainingOrchestratorService {
    /// Queue priorities: urgent > high > normal > low, then oldest first (the queue's order).
    static func queuePriority(_ priority: TrainingPriority) -> Int {
        switch priority {
        case .urgent: 30
        case .high: 20
        case .normal: 10
        case .low: 0
        }
    }

    public static let definition = definition()

    /// The definition with training data from `dataSource` (the feature-extractor's vectors by default).
    public static func definition(dataSource makeDataSource: (@Sendable (ServiceEnvironment) -> any TrainingDataSource)? = nil) -> ServiceDefinition {
        // Training jobs are not among the declared kinds (retention is): the runtime's worker
        // (BUILDRISK_JOB_CONCURRENCY slots, shared by every kind) must not claim them; a worker of their own with TRAINING_WORKERS
        // slots does (below), so a replica never runs more trainings than its cores can carry.
        ServiceDefinition(
            service: .trainingOrchestrator, settings: TrainingOrchestratorSettings.settings, migrations: TrainingPostgresStore.migrations,
            jobKinds: [TrainingRetention.job.erased, TrainingSchedules.tick.erased]
        ) { environment in
            let workers = try TrainingOrchestratorSettings.workers.read(environment.configuration.environment)
            let store = TrainingPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
            let retention = TrainingRetention(
                store: store, queue: environment.queue, policy: try RetentionPolicy.read(environment.configuration.environment),
                logger: environment.logger)
            let registry = ModelRegistry(
                store: store, postgres: environment.postgres, queue: environment.queue,
                dataDirectory: URL(fileURLWithPath: environment.configuration.dataDirectory), logger: environment.logger)
            let runner = TrainingRunner(
                store: store, registry: registry, postgres: environment.postgres, queue: environment.queue,
                dataSource: makeDataSource?(environment) ?? FeatureVectorDataSource(directory: environment.directory), logger: environment.logger)
            let jobs = TrainingJobs(store: store, registry: registry, postgres: environment.postgres, queue: environment.queue, logger: environment.logger)
            let schedules = TrainingSchedules(store: store, jobs: jobs, postgres: environment.postgres, queue: environment.queue, logger: environment.logger)

            var methods = RPCDispatcher()
            methods.register(RegistryMethods.active) { params, _ in
                try await refusals { try await registry.active(params.modelName) }
            }
            methods.register(TrainingMethods.start) { params, _ in
                try await refusals { try await jobs.start(params, retryOf: nil) }
            }
            methods.register(TrainingMethods.list) { params, _ in
                guard (1...500).contains(params.limit), params.offset >= 0 else {
                    throw RPCError(.invalidInput, "Invalid page", reason: "limit must be in 1...500 and offset at least 0")
                }
                return try await store.listJobs(params)
            }
            methods.register(TrainingMethods.get) { params, _ in
                guard let job = try await store.job(params.jobId, ownerId: params.ownerId) else { throw noSuchJob(params.jobId) }
                return job
            }
            methods.register(TrainingMethods.cancel) { params, _ in
                try await refusals { try await jobs.cancel(params) }
            }
            methods.register(TrainingMethods.retry) { params, _ in
                try await refusals { try await jobs.retry(params) }
            }
            methods.register(TrainingMethods.logs) { params, _ in
                guard try await store.job(params.jobId, ownerId: params.ownerId) != nil else { throw noSuchJob(params.jobId) }
                guard (params.tail ?? 1) >= 1 else { throw RPCError(.invalidInput, "Invalid tail", reason: "tail must be at least 1") }
                return try await store.logs(params.jobId, tail: params.tail)
            }
            methods.register(TrainingMethods.stats) { _, _ in
                let counts = try await store.counts()
                return TrainingStats(
                    running: counts.running, queued: counts.queued, capacity: workers,
                    utilisation: min(Double(counts.running) / Double(workers), 1))
            }
            methods.register(ModelRegistryMethods.versions) { params, _ in
                try await store.versions(modelName: params.modelName)
            }
            methods.register(ModelRegistryMethods.activate) { params, _ in
                try await refusals { try await registry.activate(params.modelName, version: params.version) }
            }
            methods.register(ModelRegistryMethods.deleteVersion) { params, _ in
                try await refusals { try await registry.delete(params.modelName, version: params.version) }
                return Empty()
            }
            methods.register(ModelRegistryMethods.setAlias) { params, _ in
                guard let version = params.version else { throw RPCError(.invalidInput, "Invalid alias", reason: "version is required") }
                return try await refusals { try await registry.setAlias(params.modelName, alias: params.alias, version: version) }
            }
            methods.register(ModelRegistryMethods.alias) { params, _ in
                try await refusals { try await registry.alias(params.modelName, alias: params.alias) }
            }
            methods.register(ModelRegistryMethods.removeAlias) { params, _ in
                guard try await store.removeAlias(params.modelName, params.alias) else {
                    throw RPCError(.notFound, "No such alias", reason: "model \(params.modelName) has no alias \(params.alias)")
                }
                return Empty()
            }
            methods.register(ExperimentMethods.list) { params, _ in
                guard (1...500).contains(params.limit) else { throw RPCError(.invalidInput, "Invalid page", reason: "limit must be in 1...500") }
                return try await store.experiments(ids: nil, modelName: params.modelName, ownerId: params.ownerId, limit: params.limit, withHistory: false)
            }
            methods.register(ExperimentMethods.get) { params, _ in
                guard let experiment = try await store.experiments(
                    ids: [params.experimentId], modelName: nil, ownerId: params.ownerId, limit: 1, withHistory: true).first else {
                    throw RPCError(.notFound, "No such experiment", reason: "no experiment \(params.experimentId)")
                }
                return experiment
            }
            methods.register(ExperimentMethods.compare) { params, _ in
                let ids = params.experimentIds
                guard (2...20).contains(Set(ids).count) else {
                    throw RPCError(.invalidInput, "Invalid comparison", reason: "compare 2 to 20 different experiments")
                }
                let found = try await store.experiments(ids: ids, modelName: nil, ownerId: params.ownerId, limit: ids.count, withHistory: false)
                let byId = Dictionary(found.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
                if let missing = ids.first(where: { byId[$0] == nil }) {
                    throw RPCError(.notFound, "No such experiment", reason: "no experiment \(missing)")
                }
                return ids.map { byId[$0]! }  // every id was found just above
            }

            methods.register(TrainingScheduleMethods.create) { params, _ in
                try await refusals { try await schedules.create(params) }
            }
            methods.register(TrainingScheduleMethods.list) { params, _ in
                try await store.schedules(modelName: params.modelName, ownerId: params.ownerId)
            }
            methods.register(TrainingScheduleMethods.delete) { params, _ in
                try await refusals { try await schedules.delete(params) }
                return Empty()
            }
            methods.register(TrainingScheduleMethods.setPaused) { params, _ in
                try await refusals { try await schedules.setPaused(params) }
            }

            var trainingHandlers = JobHandlers()
            trainingHandlers.register(TrainingRunner.runJob, backoff: Backoff(base: .seconds(5), cap: .seconds(60))) { payload, _ in
                try await runner.run(payload)
            }
            let trainingWorker = JobWorker(
                queue: environment.queue, handlers: trainingHandlers, concurrency: workers, lease: environment.configuration.jobLease,
                logger: environment.logger,
                waitUntilReady: {
                    // Claims need the service's tables: wait until its migrations are in.
                    while !Task.isCancelled {
                        if (try? await store.counts()) != nil { return }
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                })
            var handlers = JobHandlers()
            handlers.register(TrainingRetention.job) { run, _ in try await retention.run(run) }
            handlers.register(TrainingSchedules.tick) { tick, context in
                do {
                    try await schedules.fire(tick)
                } catch {
                    // Retried with backoff; after the last attempt the due time is skipped, not the schedule.
                    guard context.job.attempt >= context.job.maxAttempts else { throw error }
                    try await schedules.skip(tick, reason: "\(error)")
                }
            }
            return ServiceAssembly(
                methods: methods, jobs: handlers, services: [trainingWorker],
                afterMigrations: {
                    try await retention.start()
                    try await schedules.start()
                })
        }
    }

    static func noSuchJob(_ id: Int64) -> RPCError {
        RPCError(.notFound, "No such training job", reason: "no training job \(id)")
    }

    /// The service's refusals as RPC errors, mapped once.
    static func refusals<T>(_ body: () async throws -> T) async throws -> T {
        do {
            do {
                return try await body()
            } catch let error as PostgresTransactionError {
                // A refusal thrown inside a transaction arrives wrapped; the rollback is done.
                throw error.closureError ?? error
            }
        } catch let refusal as TrainingRefusal {
            switch refusal {
            case .invalid(let reason): throw RPCError(.invalidInput, "Invalid request", reason: reason)
            case .notFound(let reason): throw RPCError(.notFound, "Not found", reason: reason)
            case .conflict(let reason): throw RPCError(.conflict, "Conflict", reason: reason)
            }
        }
    }
}

/// Why the service refused a request; mapped once to an RPC error (``TrainingOrchestratorService/refusals(_:)``).
enum TrainingRefusal: Error {
    case invalid(String)
    case notFound(String)
    case conflict(String)

    static func noSuchVersion(_ name: String, _ version: Int) -> TrainingRefusal {
        .notFound("model \(name) has no version \(version)")
    }
}

/// Starting, cancelling and retrying jobs: the job row and its queue entry in one transaction.
struct TrainingJobs: Sendable {
    let store: TrainingPostgresStore
    let registry: ModelRegistry
    let postgres: PostgresClient
    let queue: JobQueue
    let logger: Logger

    func start(_ params: StartTrainingParams, retryOf: Int64?) async throws -> TrainingJobRecord {
        try await validate(params)
        let estimate = try await estimate(params.parameters)
        // The answer is the job as created (queued): a worker may claim it the moment this commits.
        let job = try await postgres.withTransaction(logger: logger) { connection in
            let id = try await queueJob(
                params, estimatedSeconds: estimate, retryOf: retryOf, note: retryOf.map { "queued (a retry of job \($0))" } ?? "queued",
                on: connection)
            return try await store.job(id, on: connection)
        }
        guard let job else { throw StoreError.notWritten("training job") }
        return job
    }

    /// Refuses, with the reason, a request that could not train: a bad name, parameters or
    /// search space, no repositories, a base version that is missing or not XGBoost.
    func validate(_ params: StartTrainingParams) async throws {
        guard ModelNames.isValid(params.modelName) else {
            throw TrainingRefusal.invalid("modelName must be 1–64 letters, digits, '-', '_' or '.', starting with a letter or digit")
        }
        do {
            _ = try TrainingParametersMapping.configuration(params.parameters)
            try RandomSearch.validate(params.parameters)
        } catch {
            throw TrainingRefusal.invalid("\(error)")
        }
        guard !params.data.repositories.isEmpty else { throw TrainingRefusal.invalid("name at least one repository to train on") }
        if let base = params.baseVersion {
            try BaseVersion.requireContinuable(params.parameters)
            guard let ref = try await store.versionRef(params.modelName, base) else {
                throw TrainingRefusal.noSuchVersion(params.modelName, base)
            }
            if let problem = BaseVersion.problem(ref) { throw TrainingRefusal.invalid("base: \(problem)") }
        }
    }

    func estimate(_ parameters: TrainingParameters) async throws -> Double {
        TrainingParametersMapping.estimate(parameters, recent: try await store.recentDurations(kind: parameters.kind))
    }

    /// The job's row, its first log line and its entry in the queue, on the caller's transaction.
    func queueJob(
        _ params: StartTrainingParams, estimatedSeconds: Double, retryOf: Int64?, scheduled: (id: Int64, dueAt: Date)? = nil, note: String,
        on connection: PostgresConnection
    ) async throws -> Int64 {
        let id = try await store.insertJob(params, estimatedSeconds: estimatedSeconds, retryOf: retryOf, scheduled: scheduled, on: connection)
        try await store.log(id, "info", note, on: connection)
        try await queue.enqueue(
            TrainingRunner.runJob, TrainingRun(jobId: id),
            options: JobOptions(priority: TrainingOrchestratorService.queuePriority(params.priority), maxAttempts: 3), on: connection)
        return id
    }

    func cancel(_ ref: TrainingJobRef) async throws -> TrainingJobRecord {
        let ended = try await postgres.withTransaction(logger: logger) { connection in
            let ended = try await store.end(ref.jobId, as: .cancelled, error: nil, ownerId: ref.ownerId, on: connection)
            if ended != nil { try await store.log(ref.jobId, "info", "cancel requested", on: connection) }
            return ended
        }
        if let ended { return ended }
        guard let job = try await store.job(ref.jobId, ownerId: ref.ownerId) else { throw TrainingRefusal.notFound("no training job \(ref.jobId)") }
        throw TrainingRefusal.conflict("training job \(ref.jobId) is already \(job.status.rawValue)")
    }

    func retry(_ ref: TrainingJobRef) async throws -> TrainingJobRecord {
        guard let job = try await store.job(ref.jobId, ownerId: ref.ownerId) else { throw TrainingRefusal.notFound("no training job \(ref.jobId)") }
        guard job.status == .failed || job.status == .cancelled else {
            throw TrainingRefusal.conflict("only a failed or cancelled job is retried; job \(job.id) is \(job.status.rawValue)")
        }
        return try await start(
            StartTrainingParams(
                modelName: job.modelName, parameters: job.parameters, data: job.data, priority: job.priority, baseVersion: job.baseVersion,
                createdBy: job.createdBy),
            retryOf: job.id)
    }
}

/// What a base version must be: warm start continues boosting, so the training and the version it
/// continues are both XGBoost. One rule for a job's base and a schedule's (resolved when it fires).
enum BaseVersion {
    static func requireContinuable(_ parameters: TrainingParameters) throws {
        guard parameters.kind == ModelKind.xgboost.rawValue else {
            throw TrainingRefusal.invalid("base: only an XGBoost training continues from a base version")
        }
    }

    /// Why `ref` cannot be continued, or nil.
    static func problem(_ ref: ModelVersionRef) -> String? {
        ref.kind == ModelKind.xgboost.rawValue ? nil : "version \(ref.version) of \(ref.modelName) is a \(ref.kind) model, not XGBoost"
    }
}
