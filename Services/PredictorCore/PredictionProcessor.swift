import BuildRiskContracts
import BuildRiskLearning
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The prediction job of one pipeline: reads its extracted builds (completed or partial vectors)
/// from the feature-extractor, predicts the ones its scope names in batches of 50 with the model
/// active when each batch starts, and stores each batch with a numbered report to the gateway.
/// With no active model the builds stay pending with the reason; an activation queues this job
/// again for every pipeline with pending builds.
struct PredictionProcessor: Sendable {
    let store: PredictionPostgresStore
    let models: ActiveModel
    let postgres: PostgresClient
    let queue: JobQueue
    let directory: ServiceDirectory
    let logger: Logger

    static let batch = 50
    /// Contributions kept per stored prediction.
    static let storedContributions = 10
    static let noActiveModel = "no active model"

    enum Scope: String, Codable, Sendable {
        /// Builds without a prediction, or waiting for one.
        case unpredicted
        /// Builds whose prediction failed.
        case failed
        /// Every build, with the active model (earlier predictions stay in the history).
        case all
    }

    struct PredictJob: Codable, Sendable {
        var pipelineId: String
        var scope: Scope
    }

    static let predictJob = JobKind<PredictJob>("predictions.predict")
    static let jobKinds = [predictJob.erased]

    /// Queues the job; nil key queues unconditionally.
    func enqueue(_ job: PredictJob, key: String?, on connection: PostgresConnection) async throws -> Bool {
        try await queue.enqueue(
            Self.predictJob, job, options: JobOptions(priority: 4, maxAttempts: 10, idempotencyKey: key.map { "predict:\($0)" }), on: connection) != nil
    }

    func run(_ job: PredictJob) async throws {
        guard try await store.pipelineExists(job.pipelineId) else { return }  // forgotten meanwhile
        let vectors = try await extractedVectors(job.pipelineId)
        let statuses = try await store.statuses(pipelineId: job.pipelineId)
        // Each build's earlier builds on its branch, for the sequence model: every extracted build
        // of the pipeline that started before it, whatever its outcome (choosing them by how they
        // ended would read the future).
        let features = vectors.map { $0.features ?? [:] }
        let previous = BranchHistory.previous(
            branches: features.map { $0[BuildOrderFeatures.branch]?.string ?? "" },
            startedAt: features.map { $0[BuildOrderFeatures.startedAt]?.string ?? "" },
            runIds: vectors.map(\.runId), limit: await models.current()?.model.artifact.sequence?.minimumHistory ?? 5)
        let todo = vectors.indices.filter { index in
            let status = statuses[vectors[index].runId]
            return switch job.scope {
            case .unpredicted: status.map { $0 == .pending || $0 == .inProgress } ?? true
            case .failed: status == .failed
            case .all: true
            }
        }
        guard await models.current() != nil else {
            try await postgres.withTransaction(logger: logger) { connection in
                try await store.mark(todo.map { vectors[$0].runId }, .pending, reason: Self.noActiveModel, pipelineId: job.pipelineId, on: connection)
                try await report(job.pipelineId, on: connection, served: nil, predicted: [])
            }
            return
        }
        try await postgres.withTransaction(logger: logger) { connection in
            try await report(job.pipelineId, phase: .predicting, message: "predicting \(todo.count) builds", on: connection, served: await models.current(), predicted: [])
        }
        for indices in todo.chunks(of: Self.batch) {
            try Task.checkCancellation()
            let chunk = indices.map { vectors[$0] }
            // Each batch takes the model active now and keeps it: every prediction is made and
            // attributed by exactly one version, also when an activation lands mid-job.
            guard let served = await models.current() else {
                try await postgres.withTransaction(logger: logger) { connection in
                    try await store.mark(chunk.map(\.runId), .pending, reason: Self.noActiveModel, pipelineId: job.pipelineId, on: connection)
                }
                continue
            }
            var completed: [PredictionPostgresStore.Completed] = []
            var failure: String?
            do {
                let scored = try await served.score(
                    indices.map { features[$0] }, top: Self.storedContributions,
                    history: RowHistory(scored: indices, previous: previous, all: features))
                let encoder = JSONEncoder()
                completed = try zip(chunk, scored).map { vector, scored in
                    PredictionPostgresStore.Completed(
                        runId: vector.runId, riskLevel: PredictedRisk(scored.prediction.level).rawValue, score: scored.prediction.failureProbability,
                        uncertainty: scored.prediction.uncertainty, modelName: served.ref.modelName, modelVersion: served.ref.version,
                        servedBy: scored.prediction.servedBy.rawValue,
                        contributions: String(decoding: try encoder.encode(scored.top), as: UTF8.self))
                }
            } catch {
                failure = "\(error)"
            }
            try await postgres.withTransaction(logger: logger) { connection in
                if let failure {
                    try await store.mark(chunk.map(\.runId), .failed, error: failure, pipelineId: job.pipelineId, on: connection)
                } else {
                    try await store.storeCompleted(completed, pipelineId: job.pipelineId, on: connection)
                }
                let predicted = failure == nil
                    ? completed.map {
                        PredictedBuild(runId: $0.runId, status: .completed, riskLevel: PredictedRisk(rawValue: $0.riskLevel), score: $0.score, modelVersion: $0.modelVersion)
                    }
                    : chunk.map { PredictedBuild(runId: $0.runId, status: .failed) }
                try await report(job.pipelineId, phase: .predicting, message: "predicting", on: connection, served: served, predicted: predicted)
            }
        }
        try await postgres.withTransaction(logger: logger) { connection in
            try await report(job.pipelineId, on: connection, served: await models.current(), predicted: [])
        }
    }

    /// The pipeline's completed and partial vectors, with their features.
    func extractedVectors(_ pipelineId: String) async throws -> [FeatureVectorRecord] {
        let extractor = directory.client(for: .featureExtractor)
        var vectors: [FeatureVectorRecord] = []
        var before: Int64?
        repeat {
            var answer: FeatureVectorPage?
            do {
                answer = try await extractor.call(FeatureMethods.vectors, FeatureVectorsParams(pipelineId: pipelineId, limit: 1000, beforeRunId: before))
            } catch {
                guard case RPCClientError.remote(let remote) = error, remote.kind == .notFound else { throw error }
            }
            // No page: the feature-extractor forgot the pipeline (deleted).
            guard let page = answer else { return [] }
            vectors += page.vectors.filter { $0.status == .completed || $0.status == .partial }
            guard page.vectors.count == 1000, let last = page.vectors.last else { break }
            before = last.runId
        } while true
        return vectors
    }

    /// A numbered report to the gateway through the outbox, on the batch's transaction; without a
    /// phase it says how the pipeline ended: predicted, or waiting while builds are pending.
    func report(
        _ pipelineId: String, phase: PredictionPhase? = nil, message: String? = nil, on connection: PostgresConnection, served: ServedModel?,
        predicted: [PredictedBuild]
    ) async throws {
        let counts = try await store.counts(pipelineId: pipelineId, on: connection)
        let phase = phase ?? (counts.pending > 0 ? .waiting : .predicted)
        let message = message ?? {
            switch phase {
            case .waiting: "\(counts.pending) builds pending: \(Self.noActiveModel)"
            default: "\(counts.completed) builds predicted (\(counts.high) HIGH, \(counts.medium) MEDIUM, \(counts.low) LOW), \(counts.failed) failed"
            }
        }()
        let sequence = try await store.nextSequence(pipelineId: pipelineId, phase: phase, message: message, on: connection)
        let progress = PredictionProgress(
            pipelineId: pipelineId, sequence: sequence, phase: phase, counts: counts, message: message, model: served?.ref,
            predicted: Array(predicted.prefix(1000)))
        try await Outbox.enqueue(
            to: .gateway, GatewayMethods.predictionProgress, progress, key: "prediction:\(pipelineId):\(sequence)", queue: queue, on: connection)
    }
}
