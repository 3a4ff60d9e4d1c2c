import BuildRiskContracts
import Foundation

/// Where a training is, for a job's progress (0–1) and its per-round metric history.
public struct TrainingProgress: Sendable {
    public enum Phase: String, Codable, Sendable {
        case preprocess, train, bootstrap, sequence, calibrate, evaluate
    }

    public var phase: Phase
    /// 0–1 over the whole training.
    public var fraction: Double
    /// Set for the main model's rounds (phase `.train`).
    public var round: RoundMetrics?
}

/// Trains a failure-risk model end to end: preprocessing fitted on the training rows, the learner,
/// a bootstrap ensemble for uncertainty, Platt calibration and risk thresholds on validation,
/// and metrics on validation and test beside Parrot. Blocking: run it off the concurrency pool
/// and pass a `CancellationFlag`'s check; a cancelled training throws `CancellationError`. With a
/// `sequenceHistory`, the splits' `previous` index its rows for the sequence model.
public enum RiskModelTrainer {
    public static func train(
        configuration: TrainingConfiguration,
        training: LabeledTable,
        validation: LabeledTable,
        test: LabeledTable? = nil,
        sequenceHistory: FeatureTable? = nil,
        base: ModelArtifact? = nil,
        isCancelled: CancellationCheck = { false },
        onProgress: (TrainingProgress) -> Void = { _ in }
    ) throws -> ModelArtifact {
        let started = ContinuousClock.now
        guard Set(training.failed).count == 2 else {
            throw LearningError.invalidInput("the training rows need failed and passed builds")
        }
        onProgress(TrainingProgress(phase: .preprocess, fraction: 0))
        // A warm start keeps the base model's preprocessing: its trees split on those exact columns.
        let preprocessor: Preprocessor
        if let base {
            guard base.kind == .xgboost, configuration.kind == .xgboost, base.xgboostModel != nil else {
                throw LearningError.invalidInput("only an XGBoost model can continue from an XGBoost base model")
            }
            preprocessor = base.preprocessor
        } else {
            preprocessor = try Preprocessor.fit(training.table, options: configuration.kind == .xgboost ? .trees : .linear)
        }
        let trainMatrix = try LabeledMatrix(features: preprocessor.transform(training.table), failed: training.failed)
        let validationMatrix = try LabeledMatrix(features: preprocessor.transform(validation.table), failed: validation.failed)
        let splits = [training, validation] + (test.map { [$0] } ?? [])
        if configuration.sequence != nil, !splits.allSatisfy({ $0.branches != nil || ($0.previous != nil && sequenceHistory != nil) }) {
            throw LearningError.invalidInput("the sequence model needs each build's branch, or its history")
        }
        let members = max(configuration.bootstrapModels, 0)
        // The sequence model, when asked for, takes the progress from 0.7 to 0.93.
        let learnerEnd = configuration.sequence == nil ? 0.95 : 0.7
        let mainShare = (learnerEnd - 0.05) / Double(1 + members)

        var history: [RoundMetrics] = []
        let rounds = Double(max(configuration.kind == .xgboost ? configuration.xgboost.rounds : configuration.logistic.maxIterations, 1))
        let learner = try fit(
            configuration, trainMatrix, validationMatrix, seed: configuration.seed,
            base: base?.xgboostModel, isCancelled: isCancelled
        ) { metrics in
            history.append(metrics)
            onProgress(TrainingProgress(phase: .train, fraction: 0.05 + mainShare * min(Double(metrics.round + 1) / rounds, 1), round: metrics))
        }

        var random = SplitMix64(seed: configuration.seed)
        var ensemble: [RiskModel.Learner] = []
        for member in 0..<members {
            let indices = (0..<trainMatrix.features.rowCount).map { _ in Int(random.next() % UInt64(trainMatrix.features.rowCount)) }
            let memberBase = base.flatMap { $0.xgboostEnsemble.indices.contains(member) ? $0.xgboostEnsemble[member] : $0.xgboostModel }
            ensemble.append(try fit(
                configuration, trainMatrix.rows(indices), nil, seed: configuration.seed &+ UInt64(member + 1),
                base: memberBase, isCancelled: isCancelled, onRound: { _ in }
            ))
            onProgress(TrainingProgress(phase: .bootstrap, fraction: 0.05 + mainShare * Double(member + 2)))
        }

        if isCancelled() { throw CancellationError() }
        onProgress(TrainingProgress(phase: .calibrate, fraction: learnerEnd))
        let rawValidation = try learner.predict(validationMatrix.features)
        let calibration = try PlattCalibration.fit(probabilities: rawValidation, failed: validation.failed)
        let calibratedValidation = rawValidation.map(calibration.apply)
        let thresholds = try RiskThresholds.choose(probabilities: calibratedValidation, failed: validation.failed)

        onProgress(TrainingProgress(phase: .evaluate, fraction: 0.97))
        var evaluation = Evaluation(
            validation: try ClassificationMetrics(probabilities: calibratedValidation, failed: validation.failed, threshold: thresholds.high),
            test: nil, parrot: nil, history: history
        )
        var evaluatedProbabilities = calibratedValidation
        if let test {
            let matrix = try preprocessor.transform(test.table)
            evaluatedProbabilities = try learner.predict(matrix).map(calibration.apply)
            evaluation.test = try ClassificationMetrics(probabilities: evaluatedProbabilities, failed: test.failed, threshold: thresholds.high)
        }
        let evaluated = test ?? validation
        let parrot = parrotPredictions(training: training, validation: validation, test: test)
        if let parrot { evaluation.parrot = try ClassificationMetrics(probabilities: parrot, failed: evaluated.failed) }
        if let repositories = evaluated.repositories {
            let rowsByRepository = Dictionary(grouping: repositories.indices, by: { repositories[$0] })
            evaluation.repositories = try rowsByRepository.keys.sorted().map { repository in
                let rows = rowsByRepository[repository]!
                let failed = rows.map { evaluated.failed[$0] }
                return RepositoryEvaluation(
                    repository: repository,
                    model: try ClassificationMetrics(probabilities: rows.map { evaluatedProbabilities[$0] }, failed: failed, threshold: thresholds.high),
                    parrot: try parrot.map { parrot in try ClassificationMetrics(probabilities: rows.map { parrot[$0] }, failed: failed) }
                )
            }
        }

        var artifact = ModelArtifact(
            format: ModelArtifact.currentFormat,
            kind: configuration.kind,
            configuration: configuration,
            inputColumns: training.table.columns.map(\.name),
            featureNames: preprocessor.outputNames,
            preprocessor: preprocessor,
            calibration: calibration,
            thresholds: thresholds,
            evaluation: evaluation,
            trainingRows: training.table.rowCount,
            trainingSeconds: 0,
            baseRounds: try base?.xgboostModel.map { try XGBoostBooster(modelJSON: $0).boostedRounds() } ?? 0,
            xgboostModel: nil, xgboostEnsemble: [], logistic: nil, logisticEnsemble: [], sequence: nil
        )
        switch learner {
        case .xgboost(let booster):
            artifact.xgboostModel = try booster.modelJSON()
            artifact.xgboostEnsemble = try ensemble.map {
                guard case .xgboost(let member) = $0 else { return Data() }
                return try member.modelJSON()
            }
        case .logistic(let model):
            artifact.logistic = model
            artifact.logisticEnsemble = ensemble.compactMap {
                guard case .logistic(let member) = $0 else { return nil }
                return member
            }
        }
        if let sequenceConfiguration = configuration.sequence {
            try addSequenceModel(
                sequenceConfiguration, to: &artifact, training: training, validation: validation, test: test, sequenceHistory: sequenceHistory,
                isCancelled: isCancelled
            ) { onProgress(TrainingProgress(phase: .sequence, fraction: learnerEnd + 0.23 * $0)) }
        }
        artifact.trainingSeconds = seconds(since: started)
        onProgress(TrainingProgress(phase: .evaluate, fraction: 1))
        return artifact
    }

    /// Trains the sequence model for a trained artifact (on the rows it was trained on, in time
    /// order, each with its branch) and adds it with its evaluation beside the main learner's,
    /// unless `onlyIfBetter` and it ranks its validation builds no better (the evaluation then says
    /// so); the training time grows by its own. A search trains it once, for the trial it keeps.
    public static func addSequenceModel(
        _ configuration: SequenceConfiguration,
        to artifact: inout ModelArtifact,
        training: LabeledTable, validation: LabeledTable, test: LabeledTable? = nil, sequenceHistory: FeatureTable? = nil,
        isCancelled: CancellationCheck = { false },
        onProgress: (Double) -> Void = { _ in }
    ) throws {
        let started = ContinuousClock.now
        let evaluated = test ?? validation
        let model = try RiskModel(artifact: artifact)
        let fallback = try model.predict(evaluated.table).map(\.failureProbability)
        let validationFallback = test == nil ? fallback : try model.predict(validation.table).map(\.failureProbability)
        let high = artifact.thresholds.high
        let parrot = parrotPredictions(training: training, validation: validation, test: test)
        let (member, evaluation) = try SequenceMember.train(
            configuration, training: training, validation: validation, test: test, history: sequenceHistory,
            fallback: (fallback, fallback.map { $0 >= high }, high), validationFallback: validationFallback, parrot: parrot,
            seed: artifact.configuration.seed, isCancelled: isCancelled, onProgress: { fraction, _ in onProgress(fraction) })
        artifact.sequence = member
        artifact.evaluation.sequence = evaluation
        artifact.configuration.sequence = configuration
        artifact.trainingSeconds += seconds(since: started)
    }

    /// Parrot on the test rows (validation without a test set), the earlier splits its history;
    /// nil when a split has no branches.
    static func parrotPredictions(training: LabeledTable, validation: LabeledTable, test: LabeledTable?) -> [Double]? {
        let evaluated = test ?? validation
        let earlier = test == nil ? [training] : [training, validation]
        guard let branches = evaluated.branches, earlier.allSatisfy({ $0.branches != nil }) else { return nil }
        let history = earlier.flatMap { zip($0.branches!, $0.failed).map { (branch: $0, failed: $1) } }
        return ParrotBaseline.predictions(history: history, evaluated: zip(branches, evaluated.failed).map { (branch: $0, failed: $1) })
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    private static func fit(
        _ configuration: TrainingConfiguration,
        _ training: LabeledMatrix,
        _ validation: LabeledMatrix?,
        seed: UInt64,
        base: Data?,
        isCancelled: CancellationCheck,
        onRound: (RoundMetrics) -> Void
    ) throws -> RiskModel.Learner {
        switch configuration.kind {
        case .xgboost:
            var parameters = configuration.xgboost
            parameters.seed = Int(seed % UInt64(Int32.max))
            return .xgboost(try XGBoostBooster.train(
                training, validation: validation, parameters: parameters, base: base, isCancelled: isCancelled, onRound: onRound
            ))
        case .logisticRegression:
            return .logistic(try LogisticRegression.fit(training, parameters: configuration.logistic, isCancelled: isCancelled, onIteration: onRound))
        }
    }
}
