import BuildRiskContracts
import BuildRiskLearning
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Synchronization

/// The payload of a training job in the durable queue: the row in `training_jobs` says the rest.
public struct TrainingRun: Codable, Sendable {
    public var jobId: Int64
}

/// Runs one training job: load the data through the ``TrainingDataSource``, train on NIO's
/// blocking thread pool with a ``CancellationFlag``, then register the version, the experiment
/// and the job's completion in one transaction.
///
/// While it trains, a watcher reads the job's status five times a second (a cancel sets the flag,
/// and the trainer stops at its next round) and persists the newest progress, pushing it to the
/// gateway through the outbox at most once a second.
struct TrainingRunner: Sendable {
    static let runJob = JobKind<TrainingRun>("training.run")

    let store: TrainingPostgresStore
    let registry: ModelRegistry
    let postgres: PostgresClient
    let queue: JobQueue
    let dataSource: any TrainingDataSource
    let logger: Logger

    /// Progress as the blocking trainer reports it, read by the watcher.
    final class Progress: Sendable {
        struct State {
            var fraction = 0.0
            var phase = "load"
            var latest: RoundLoss?
            var history: [RoundLoss] = []
            var changed = true
        }
        let state = Mutex(State())

        func set(_ fraction: Double, _ phase: String, round: RoundLoss? = nil) {
            state.withLock {
                $0.fraction = fraction
                $0.phase = phase
                if let round {
                    $0.latest = round
                    $0.history.append(round)
                }
                $0.changed = true
            }
        }

        /// The state when it changed since the last take.
        func take() -> State? {
            state.withLock { state in
                guard state.changed else { return nil }
                state.changed = false
                return state
            }
        }
    }

    /// The directory a registration wrote, to remove when its transaction does not commit.
    final class WrittenDirectory: Sendable {
        let url = Mutex<URL?>(nil)
    }

    func run(_ payload: TrainingRun) async throws {
        let id = payload.jobId
        // A job cancelled while queued ends here; a running one was restarted after a lost worker.
        guard try await store.markRunning(id), let job = try await store.job(id) else { return }
        try await store.log(id, "info", "started: \(job.kind) for model \(job.modelName) on \(job.data.repositories.map(\.fullName).joined(separator: ", "))")
        await report(job, status: .running, progress: 0, phase: "load", latest: nil)

        let flag = CancellationFlag()
        let progress = Progress()
        do {
            try await withTaskCancellationHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await watch(job, flag: flag, progress: progress) }
                    try await train(job, flag: flag, progress: progress)
                    group.cancelAll()
                }
            } onCancel: {
                flag.cancel()
            }
        } catch {
            let status = try? await store.status(of: id)
            if status == .cancelled {
                try? await store.log(id, "info", "cancelled; nothing registered")
                await report(job, status: .cancelled, progress: progress.state.withLock { $0.fraction }, phase: nil, latest: nil)
                return
            }
            if error is CancellationError || (error as? PostgresTransactionError)?.closureError is CancellationError || Task.isCancelled {
                // The worker is stopping: the job goes back to the queue and starts over.
                throw error
            }
            let reason = String(describing: error)
            let ended = try await postgres.withTransaction(logger: logger) { connection in
                try await store.log(id, "error", "failed: \(reason)", on: connection)
                return try await store.end(id, as: .failed, error: reason, on: connection)
            }
            if ended != nil { await report(job, status: .failed, progress: 0, phase: nil, latest: nil, error: reason) }
        }
    }

    private func train(_ job: TrainingJobRecord, flag: CancellationFlag, progress: Progress) async throws {
        // One trial, or a random search's: each trial's parameters are drawn (and kept in its experiment).
        let trials: [TrainingParameters]
        if let space = job.parameters.search {
            var generator = SystemRandomNumberGenerator()
            trials = (0..<space.trials).map { _ in RandomSearch.sample(job.parameters, using: &generator) }
        } else {
            trials = [job.parameters]
        }
        var base: ModelArtifact?
        if let version = job.baseVersion {
            let directory = registry.directory(of: ModelNames.artifactPath(modelName: job.modelName, version: version))
            base = try await NIOThreadPool.singleton.runIfActive { try ModelArtifact.load(from: directory) }
        }
        let data = try await dataSource.load(job.data)
        try await store.log(
            job.id, "info",
            "data: \(data.summary.buildCount) builds (\(data.summary.trainingCount) training, \(data.summary.validationCount) validation, \(data.summary.testCount) test), \(data.summary.excludedCount) left out, \(data.summary.features.count) pre-build features")
        progress.set(0.1, "preprocess")
        if flag.isCancelled { throw CancellationError() }

        // The best trial is chosen on validation: the test rows stay unseen until its evaluation.
        typealias Trial = (artifact: ModelArtifact, parameters: TrainingParameters, experimentId: Int64?, score: Double)
        let halving = job.parameters.search?.strategy == .successiveHalving
        let fullRounds = job.parameters.rounds ?? XGBoostParameters().rounds
        let trainings = halving ? SuccessiveHalving.trainings(configurations: trials.count, fullRounds: fullRounds) : trials.count
        var trained = 0
        // `parameters.rounds` is the model's rounds in this job; continuing a rung's model trains only the ones it adds.
        func trainTrial(_ parameters: TrainingParameters, _ label: String, continuing: (rounds: Int, trial: Trial)? = nil) async throws -> Trial {
            var configuration = try TrainingParametersMapping.configuration(parameters)
            // A search's trials are chosen on the main learner: the sequence model is trained once, for the one kept.
            if job.parameters.search != nil { configuration.sequence = nil }
            let trialBase = continuing?.trial.artifact ?? base
            let offset = continuing?.rounds ?? 0
            configuration.xgboost.rounds -= offset
            let share = 0.85 / Double(max(trainings, 1))
            let slot = Double(trained)
            var artifact = try await NIOThreadPool.singleton.runIfActive { [flag, trialBase, configuration] in
                try RiskModelTrainer.train(
                    configuration: configuration, training: data.training, validation: data.validation, test: data.test,
                    sequenceHistory: data.history, base: trialBase,
                    isCancelled: flag.check
                ) { step in
                    progress.set(
                        0.1 + share * (slot + step.fraction), step.phase.rawValue,
                        round: step.round.map { RoundLoss(round: offset + $0.round, trainLoss: $0.trainLoss, validationLoss: $0.validationLoss) })
                }
            }
            if let continuing { artifact = Self.continued(artifact, from: continuing.trial.artifact, rounds: continuing.rounds) }
            trained += 1
            if flag.isCancelled { throw CancellationError() }
            let score = artifact.evaluation.validation.rocAUC ?? -1
            var experimentId: Int64?
            if job.parameters.search != nil {
                experimentId = try await postgres.withConnection { connection in
                    try await store.insertExperiment(
                        jobId: job.id, modelName: job.modelName, kind: job.kind, parameters: parameters,
                        metrics: TrainingParametersMapping.metrics(artifact.evaluation), history: Self.history(artifact), data: data.summary,
                        version: nil, trainingSeconds: artifact.trainingSeconds, createdBy: job.createdBy, on: connection)
                }
                try await store.log(
                    job.id, "info", "\(label): \(RandomSearch.describe(parameters)); validation ROC AUC \(String(format: "%.4f", score))")
            }
            return (artifact, parameters, experimentId, score)
        }
        var best: Trial?
        if halving {
            // Each rung's trainings are experiments; a survivor continues its previous rung's trees;
            // the last rung's model, on the job's rounds, is registered.
            best = try await SuccessiveHalving.run(configurations: trials.count, fullRounds: fullRounds) { index, rounds, previous in
                var parameters = trials[index]
                parameters.rounds = rounds
                let label = "configuration \(index + 1)/\(trials.count) on \(rounds) rounds"
                    + (previous.map { " (continuing its \($0.rounds)-round model: \(rounds - $0.rounds) more)" } ?? "")
                let trial = try await trainTrial(parameters, label, continuing: previous.map { ($0.rounds, $0.trained) })
                return (trial.score, trial)
            }?.trained
        } else {
            for (index, parameters) in trials.enumerated() {
                let trial = try await trainTrial(parameters, "trial \(index + 1)/\(trials.count)")
                if trial.score > best?.score ?? -.infinity { best = trial }
            }
        }
        guard var best else { throw TrainingDataError("no trial was trained") }
        if job.parameters.search != nil, let sequence = try TrainingParametersMapping.configuration(best.parameters).sequence {
            progress.set(0.9, TrainingProgress.Phase.sequence.rawValue)
            best.artifact = try await NIOThreadPool.singleton.runIfActive { [flag, best] in
                var artifact = best.artifact
                try RiskModelTrainer.addSequenceModel(
                    sequence, to: &artifact, training: data.training, validation: data.validation, test: data.test,
                    sequenceHistory: data.history, isCancelled: flag.check)
                return artifact
            }
            if flag.isCancelled { throw CancellationError() }
        }
        let artifact = best.artifact
        progress.set(0.95, "register")

        let metrics = TrainingParametersMapping.metrics(artifact.evaluation)
        let history = Self.history(artifact)
        let template = ModelVersionRecord(
            modelName: job.modelName, version: 0, kind: job.kind, active: false, aliases: [], metrics: metrics, parameters: best.parameters,
            trainingSeconds: artifact.trainingSeconds, baseVersion: job.baseVersion, createdBy: job.createdBy, artifactPath: "",
            dagVersion: data.summary.dagVersion, jobId: job.id, experimentId: nil, createdAt: "")
        let written = WrittenDirectory()
        do {
            let version = try await postgres.withTransaction(logger: logger) { connection in
                let registered = try await registry.register(artifact, record: template, on: connection)
                written.url.withLock { $0 = registered.directory }
                let experimentId: Int64
                if let trial = best.experimentId {
                    experimentId = trial
                    try await store.setModelVersion(
                        of: trial, version: registered.version, metrics: metrics, trainingSeconds: artifact.trainingSeconds, on: connection)
                } else {
                    experimentId = try await store.insertExperiment(
                        jobId: job.id, modelName: job.modelName, kind: job.kind, parameters: best.parameters, metrics: metrics, history: history,
                        data: data.summary, version: registered.version, trainingSeconds: artifact.trainingSeconds, createdBy: job.createdBy,
                        on: connection)
                }
                try await store.setExperimentVersion(experimentId, modelName: job.modelName, version: registered.version, on: connection)
                // Cancelled at the last moment: the whole registration rolls back.
                guard try await store.complete(job.id, version: registered.version, experimentId: experimentId, on: connection) else {
                    throw CancellationError()
                }
                if let sequence = metrics.sequence {
                    func auc(_ value: Double?) -> String { value.map { String(format: "%.3f", $0) } ?? "n/a" }
                    let beats = sequence.beatsParrot.map { $0 ? "beats" : "does not beat" } ?? "was not compared with"
                    let adoption = sequence.adopted
                        ? "serves \(sequence.servedCount) of \(sequence.evaluatedCount) test builds (5 earlier builds on their branch)"
                        : "not adopted, the fallback serves every build: validation ROC AUC \(auc(sequence.validationROCAUC)) against the fallback's \(auc(sequence.validationFallbackROCAUC)); it would have served \(sequence.servedCount) of \(sequence.evaluatedCount) test builds"
                    try await store.log(
                        job.id, "info",
                        "sequence model: \(adoption); on those, test ROC AUC \(auc(sequence.sequence?.rocAUC)) against the fallback's \(auc(sequence.fallback?.rocAUC)); it \(beats) Parrot",
                        on: connection)
                }
                let beats = metrics.beatsParrot.map { $0 ? "beats" : "does not beat" } ?? "was not compared with"
                try await store.log(
                    job.id, "info",
                    "completed: version \(registered.version) of \(job.modelName) in \(String(format: "%.1f", artifact.trainingSeconds)) s; test ROC AUC \(metrics.test?.rocAUC.map { String(format: "%.3f", $0) } ?? "n/a"), F1 \(String(format: "%.3f", metrics.test?.f1 ?? 0)); it \(beats) Parrot",
                    on: connection)
                return registered.version
            }
            await report(job, status: .completed, progress: 1, phase: "register", latest: history.last, modelVersion: version)
        } catch {
            if let directory = written.url.withLock({ $0 }) { try? FileManager.default.removeItem(at: directory) }
            throw error
        }
    }

    /// A rung's model that continued `previous` (`rounds` rounds in this job) as its experiment
    /// shows it: the loss curve from this job's first round on, and the time of all its rounds.
    static func continued(_ artifact: ModelArtifact, from previous: ModelArtifact, rounds: Int) -> ModelArtifact {
        var artifact = artifact
        artifact.evaluation.history = previous.evaluation.history
            + artifact.evaluation.history.map { RoundMetrics(round: rounds + $0.round, trainLoss: $0.trainLoss, validationLoss: $0.validationLoss) }
        artifact.trainingSeconds += previous.trainingSeconds
        return artifact
    }

    static func history(_ artifact: ModelArtifact) -> [RoundLoss] {
        artifact.evaluation.history.map { RoundLoss(round: $0.round, trainLoss: $0.trainLoss, validationLoss: $0.validationLoss) }
    }

    /// Sets the flag when the job stops running (a cancel); persists and reports progress.
    private func watch(_ job: TrainingJobRecord, flag: CancellationFlag, progress: Progress) async throws {
        var lastReport = ContinuousClock.now
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(200))
            if try await store.status(of: job.id) != .running {
                flag.cancel()
                return
            }
            guard let state = progress.take() else { continue }
            guard try await store.recordProgress(job.id, progress: state.fraction, phase: state.phase, latest: state.latest) else {
                flag.cancel()
                return
            }
            if ContinuousClock.now - lastReport >= .seconds(1) {
                lastReport = ContinuousClock.now
                await report(job, status: .running, progress: state.fraction, phase: state.phase, latest: state.latest)
            }
        }
    }

    /// Pushes a job's news to the gateway (its owner's TRAINING_UPDATE). Best effort: progress is
    /// also readable from the job, so a failed enqueue only loses one event.
    private func report(
        _ job: TrainingJobRecord, status: TrainingJobStatus, progress: Double, phase: String?, latest: RoundLoss?,
        modelVersion: Int? = nil, error: String? = nil
    ) async {
        let update = TrainingUpdate(
            jobId: job.id, ownerId: job.createdBy, modelName: job.modelName, status: status, progress: progress, phase: phase,
            latest: latest, modelVersion: modelVersion, error: error)
        do {
            _ = try await postgres.withConnection { connection in
                try await Outbox.enqueue(
                    to: .gateway, GatewayMethods.trainingUpdate, update, key: "training:\(job.id):\(UUID().uuidString)", queue: queue,
                    on: connection)
            }
        } catch {
            logger.warning("could not queue a training update", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }
}

/// Contract parameters to the learning engine's configuration and its metrics back to contract types.
enum TrainingParametersMapping {
    /// The engine's configuration for `parameters`; throws a reason for a value out of range.
    static func configuration(_ parameters: TrainingParameters) throws -> TrainingConfiguration {
        guard let kind = ModelKind(rawValue: parameters.kind) else {
            throw TrainingDataError("kind must be one of \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(parameters.kind)'")
        }
        var configuration = TrainingConfiguration(kind: kind)
        func check<T: Comparable>(_ value: T?, _ name: String, _ range: ClosedRange<T>) throws -> T? {
            guard let value else { return nil }
            guard range.contains(value) else { throw TrainingDataError("\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)") }
            return value
        }
        if let rounds = try check(parameters.rounds, "rounds", 1...10_000) { configuration.xgboost.rounds = rounds }
        if let depth = try check(parameters.maxDepth, "maxDepth", 1...20) { configuration.xgboost.maxDepth = depth }
        if let rate = try check(parameters.learningRate, "learningRate", 0.0001...1) { configuration.xgboost.learningRate = rate }
        if let l2 = try check(parameters.l2, "l2", 0...1_000_000) { configuration.logistic.l2 = l2 }
        if let iterations = try check(parameters.maxIterations, "maxIterations", 1...10_000) { configuration.logistic.maxIterations = iterations }
        if let members = try check(parameters.bootstrapModels, "bootstrapModels", 0...20) { configuration.bootstrapModels = members }
        if let seed = try check(parameters.seed, "seed", 0...Int.max) { configuration.seed = UInt64(seed) }
        var sequence = SequenceConfiguration()
        if let epochs = try check(parameters.sequenceEpochs, "sequenceEpochs", 0...200) { sequence.gru.epochs = epochs }
        if let hidden = try check(parameters.sequenceHidden, "sequenceHidden", 2...128) { sequence.gru.hidden = hidden }
        configuration.sequence = sequence.gru.epochs > 0 ? sequence : nil
        return configuration
    }

    static func metrics(_ evaluation: Evaluation) -> ModelMetrics {
        ModelMetrics(
            validation: metricSet(evaluation.validation), test: evaluation.test.map(metricSet), parrot: evaluation.parrot.map(metricSet),
            beatsParrot: evaluation.beatsParrot,
            repositories: evaluation.repositories.map {
                RepositoryMetrics(repository: $0.repository, model: metricSet($0.model), parrot: $0.parrot.map(metricSet), beatsParrot: $0.beatsParrot)
            },
            sequence: evaluation.sequence.map {
                SequenceMetrics(
                    evaluatedCount: $0.evaluatedCount, servedCount: $0.servedCount, sequence: $0.sequence.map(metricSet),
                    fallback: $0.fallback.map(metricSet), parrot: $0.parrot.map(metricSet), beatsParrot: $0.beatsParrot, served: metricSet($0.served),
                    adopted: $0.adopted, validationROCAUC: $0.validationROCAUC, validationFallbackROCAUC: $0.validationFallbackROCAUC)
            })
    }

    static func metricSet(_ metrics: ClassificationMetrics) -> MetricSet {
        MetricSet(
            count: metrics.count, failures: metrics.failures, accuracy: metrics.accuracy, precision: metrics.precision, recall: metrics.recall,
            f1: metrics.f1, rocAUC: metrics.rocAUC, prAUC: metrics.prAUC, brier: metrics.brier, threshold: metrics.threshold,
            truePositives: metrics.confusion.truePositives, falsePositives: metrics.confusion.falsePositives,
            trueNegatives: metrics.confusion.trueNegatives, falseNegatives: metrics.confusion.falseNegatives)
    }

    /// A first guess of a job's duration: the median of the last completed trainings of the kind,
    /// else a rough prior from the work asked (rounds or iterations, times the ensemble); times the
    /// trials of a search.
    static func estimate(_ parameters: TrainingParameters, recent: [Double]) -> Double {
        let fullRounds = parameters.rounds ?? XGBoostParameters().rounds
        let trials = parameters.search.map {
            $0.strategy == .successiveHalving ? SuccessiveHalving.work(configurations: $0.trials, fullRounds: fullRounds) : Double($0.trials)
        } ?? 1
        if !recent.isEmpty { return trials * recent.sorted()[recent.count / 2] }
        let members = Double(1 + (parameters.bootstrapModels ?? TrainingConfiguration(kind: .xgboost).bootstrapModels))
        let steps = Double(parameters.kind == ModelKind.xgboost.rawValue ? parameters.rounds ?? XGBoostParameters().rounds : parameters.maxIterations ?? 100)
        return 5 + 0.01 * steps * members * trials
    }
}
