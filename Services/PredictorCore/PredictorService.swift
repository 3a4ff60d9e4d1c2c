import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// The predictor: the active model of `build-risk` held in memory, predictions of every extracted
/// build of a pipeline (stored with the model version that made them), and scores on demand.
public enum PredictorService {
    /// Contributions answered per scored build unless asked otherwise.
    static let defaultTopContributions = 10
    /// Vectors scored in one call at most.
    public static let maxScoredVectors = 1000

    public static let definition = ServiceDefinition(
        service: .predictor, settings: ScoreCacheSettings.all, migrations: PredictionPostgresStore.migrations, jobKinds: PredictionProcessor.jobKinds
    ) { environment in
        let store = PredictionPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
        let models = ActiveModel(modelName: ModelNames.standard, dataDirectory: environment.configuration.dataDirectory)
        let processor = PredictionProcessor(
            store: store, models: models, postgres: environment.postgres, queue: environment.queue, directory: environment.directory,
            logger: environment.logger)

        let coalescer = ScoreCoalescer()
        let scores = try ScoreCacheSettings.cache(environment.configuration.environment)
        let activation = ModelActivation(
            models: models, store: store, processor: processor, postgres: environment.postgres, logger: environment.logger, scores: scores)

        @Sendable func known(_ pipelineId: String) async throws {
            guard try await store.pipelineExists(pipelineId) else {
                throw RPCError(.notFound, "No such pipeline", reason: "the predictor has no pipeline \(pipelineId)")
            }
        }

        var methods = RPCDispatcher()
        methods.register(PredictorMethods.activeModelChanged) { change, _ in
            try await activation.apply(change)
            return Empty()
        }
        methods.register(PredictionMethods.predict) { request, _ in
            guard !request.pipelineId.isEmpty, !request.requestId.isEmpty else {
                throw RPCError(.invalidInput, "Invalid prediction request", reason: "pipelineId and requestId must be set")
            }
            // A processing run ended: the pipeline's vectors may have changed.
            scores.forget(pipelineId: request.pipelineId)
            let queued = try await environment.postgres.withTransaction(logger: environment.logger) { connection in
                try await store.upsertPipeline(request.pipelineId, on: connection)
                return try await processor.enqueue(.init(pipelineId: request.pipelineId, scope: .unpredicted), key: request.requestId, on: connection)
            }
            return PredictAccepted(pipelineId: request.pipelineId, queued: queued)
        }
        methods.register(PredictionMethods.repredict) { params, _ in
            try await known(params.pipelineId)
            scores.forget(pipelineId: params.pipelineId)
            let queued = try await environment.postgres.withTransaction(logger: environment.logger) { connection in
                try await processor.enqueue(.init(pipelineId: params.pipelineId, scope: .all), key: nil, on: connection)
            }
            return PredictAccepted(pipelineId: params.pipelineId, queued: queued)
        }
        methods.register(PredictionMethods.retryFailed) { params, _ in
            try await known(params.pipelineId)
            scores.forget(pipelineId: params.pipelineId)
            let queued = try await environment.postgres.withTransaction(logger: environment.logger) { connection in
                try await processor.enqueue(.init(pipelineId: params.pipelineId, scope: .failed), key: nil, on: connection)
            }
            return PredictAccepted(pipelineId: params.pipelineId, queued: queued)
        }
        methods.register(PredictionMethods.forget) { params, _ in
            scores.forget(pipelineId: params.pipelineId)
            return PredictionForgetResult(predictionsDeleted: try await store.forget(pipelineId: params.pipelineId))
        }
        methods.register(PredictionMethods.list) { params, _ in
            if let runIds = params.runIds, runIds.count > 1000 {
                throw RPCError(.invalidInput, "Too many runs", reason: "ask for at most 1,000 runs, not \(runIds.count)")
            }
            guard let page = try await store.list(params) else {
                throw RPCError(.notFound, "No such pipeline", reason: "the predictor has no pipeline \(params.pipelineId)")
            }
            return page
        }
        methods.register(PredictionMethods.get) { params, _ in
            try await known(params.pipelineId)
            return try await store.history(params)
        }
        // A score by run id is answered from the cache as the JSON it was answered with before.
        methods.registerEncoded(PredictionMethods.score) { request, _, encode in
            // Taken first: a build's features are not computed (nor its commit fetched) for nothing.
            guard let served = await models.current() else {
                throw RPCError(.conflict, "No active model", reason: "no model is active: train and activate one first")
            }
            let rows: [[String: FeatureValue]]
            var history: RowHistory?
            var runId: Int64?
            var computed: ComputedFeatures?
            var ticket: ScoreCache.Ticket?
            if let vectors = request.vectors {
                guard (1...maxScoredVectors).contains(vectors.count), request.runId == nil, request.build == nil else {
                    throw RPCError(.invalidInput, "Invalid score request", reason: "send 1 to \(maxScoredVectors) vectors, or a pipelineId and a runId or a planned build (not both); got \(vectors.count) vectors")
                }
                rows = vectors
                if let histories = request.histories {
                    guard histories.count == vectors.count else {
                        throw RPCError(.invalidInput, "Invalid score request", reason: "send one history per vector: \(vectors.count) vectors, \(histories.count) histories")
                    }
                    history = RowHistory(concatenating: histories)
                }
            } else if let pipelineId = request.pipelineId, let build = request.build {
                guard request.runId == nil else {
                    throw RPCError(.invalidInput, "Invalid score request", reason: "send a runId or a planned build, not both")
                }
                do {
                    computed = try await environment.directory.client(for: .featureExtractor).call(
                        FeatureMethods.compute, ComputeFeaturesParams(pipelineId: pipelineId, build: build))
                } catch {
                    // The remote's refusal goes back as it said it (swiftc 6.3 crashes on a `catch <enum pattern>` here).
                    if case RPCClientError.remote(let refusal) = error { throw refusal }
                    throw error
                }
                rows = [computed?.features ?? [:]]
                // Its history: the newest extracted builds of its branch, all started before now.
                if let depth = served.model.artifact.sequence?.minimumHistory, let branch = computed?.features[BuildOrderFeatures.branch]?.string {
                    let page = try await environment.directory.client(for: .featureExtractor).call(
                        FeatureMethods.vectors, FeatureVectorsParams(pipelineId: pipelineId, limit: 1, branchHistory: depth, branch: branch))
                    if let earlier = page.history, earlier.count >= depth {
                        history = RowHistory(concatenating: [earlier.map { $0.features ?? [:] }])
                    }
                }
            } else if let pipelineId = request.pipelineId, let id = request.runId {
                switch scores.lookup(ScoreCacheKey(pipelineId: pipelineId, runId: id, top: request.topContributions ?? defaultTopContributions, model: served.sequence)) {
                case .kept(let answer): return answer
                case .missing(let issued): ticket = issued
                }
                var page: FeatureVectorPage?
                do {
                    page = try await environment.directory.client(for: .featureExtractor).call(
                        FeatureMethods.vectors,
                        FeatureVectorsParams(pipelineId: pipelineId, limit: 1, runId: id, branchHistory: served.model.artifact.sequence?.minimumHistory))
                } catch {
                    guard case RPCClientError.remote(let remote) = error, remote.kind == .notFound else { throw error }
                }
                guard let vector = page?.vectors.first, vector.status == .completed || vector.status == .partial, let features = vector.features else {
                    throw RPCError(.notFound, "No such build", reason: "pipeline \(pipelineId) has no extracted build \(id)")
                }
                rows = [features]
                if let earlier = page?.history, earlier.count >= served.model.artifact.sequence?.minimumHistory ?? .max {
                    history = RowHistory(concatenating: [earlier.map { $0.features ?? [:] }])
                }
                runId = id
            } else {
                throw RPCError(.invalidInput, "Invalid score request", reason: "send vectors, or a pipelineId with a runId or a planned build")
            }
            let top = request.topContributions ?? defaultTopContributions
            // Single builds go through the coalescer, which scores those arriving together in one call.
            let scored = if rows.count == 1 {
                [try await coalescer.score(rows[0], history: history?.rows ?? [], with: served, top: top)]
            } else {
                try await served.score(rows, top: top, history: history)
            }
            let answer = ScoreAnswer(model: served.ref, featuresUsed: served.inputColumns, scores: scored.map {
                BuildScore(
                    runId: runId, riskLevel: PredictedRisk($0.prediction.level), score: $0.prediction.failureProbability,
                    rawProbability: $0.prediction.rawProbability, uncertainty: $0.prediction.uncertainty, contributions: $0.top,
                    otherContributions: $0.rest, servedBy: $0.prediction.servedBy.rawValue)
            }, computed: computed)
            let encoded = try encode(answer)
            if let pipelineId = request.pipelineId, let runId, let ticket {
                scores.store(encoded, for: ScoreCacheKey(pipelineId: pipelineId, runId: runId, top: top, model: served.sequence), ticket: ticket)
            }
            return encoded
        }

        var jobs = JobHandlers()
        jobs.register(PredictionProcessor.predictJob, backoff: Backoff(base: .seconds(2), cap: .seconds(120))) { job, _ in
            try await processor.run(job)
        }
        let registry = RegistryWatcher(directory: environment.directory, modelName: ModelNames.standard, logger: environment.logger) {
            try await activation.apply($0)
        }
        return ServiceAssembly(methods: methods, jobs: jobs, services: [registry])
    }
}
