import BuildRiskContracts
import Foundation

/// How the sequence model is trained beside an artifact's main learner.
public struct SequenceConfiguration: Codable, Sendable, Equatable {
    public var gru: GRUClassifier.Parameters
    /// Steps a sample holds: the build and up to `length − 1` previous builds of its branch. Only a
    /// build with all of them is served by the sequence model.
    public var length: Int
    /// GRUs on bootstrap resamples of the training builds: the spread of their probabilities is a
    /// served build's uncertainty.
    public var bootstrapModels: Int
    /// Serve with it only when it ranks the validation builds it would serve better (ROC AUC) than
    /// the main learner does; otherwise it is measured, reported and left out of the artifact.
    public var onlyIfBetter: Bool

    public init(gru: GRUClassifier.Parameters = .init(), length: Int = 6, bootstrapModels: Int = 3, onlyIfBetter: Bool = true) {
        self.gru = gru
        self.length = length
        self.bootstrapModels = bootstrapModels
        self.onlyIfBetter = onlyIfBetter
    }
}

/// An artifact's sequence model: a GRU over each build's previous builds of its branch, with its
/// own preprocessing (imputed and scaled: the network needs it whatever the main learner reads),
/// calibration and risk thresholds. It serves the builds with `minimumHistory` earlier builds on
/// their branch; the main learner serves the others.
public struct SequenceMember: Codable, Sendable {
    public var length: Int
    public var preprocessor: Preprocessor
    public var model: GRUClassifier
    public var ensemble: [GRUClassifier]
    public var calibration: PlattCalibration
    public var thresholds: RiskThresholds

    /// Earlier builds of the branch a build needs to be served by this model.
    public var minimumHistory: Int { length - 1 }
}

/// Which model made a prediction.
public enum ServingModel: String, Codable, Sendable, CaseIterable {
    case xgboost
    case logisticRegression = "logistic_regression"
    /// The sequence model over the build's branch history.
    case gru

    init(_ kind: ModelKind) {
        switch kind {
        case .xgboost: self = .xgboost
        case .logisticRegression: self = .logisticRegression
        }
    }
}

/// The sequence model's share of an evaluation (the test rows, or validation without a test set).
public struct SequenceEvaluation: Codable, Sendable, Equatable {
    /// Evaluated builds, and those of them with a full branch history: the ones the sequence model serves.
    public var evaluatedCount: Int
    public var servedCount: Int
    /// On the served builds: the sequence model, the main learner, and Parrot. Nil when no evaluated
    /// build had a full history.
    public var sequence: ClassificationMetrics?
    public var fallback: ClassificationMetrics?
    public var parrot: ClassificationMetrics?
    /// Every evaluated build by the model that serves it, each called failed at its own model's HIGH
    /// cut-off (`threshold` is the main learner's); the main learner's alone when not adopted.
    public var served: ClassificationMetrics
    /// Whether the artifact serves with it, and the validation ROC AUCs that decided it (on the
    /// validation builds it would serve, or all of validation when those are too few).
    public var adopted: Bool
    public var validationROCAUC: Double?
    public var validationFallbackROCAUC: Double?

    /// Whether the sequence model beats Parrot on the builds it serves (ROC AUC and F1).
    public var beatsParrot: Bool? {
        guard let sequence, let parrot else { return nil }
        return Evaluation.beats(sequence, parrot)
    }
}

/// The previous builds of each predicted build's branch, for the sequence model: `table` holds
/// their raw features (the columns the model reads), `previous[i]` the rows of row `i`'s earlier
/// builds, oldest first. Only builds that started before it belong there.
public struct BranchHistory: Sendable {
    public var table: FeatureTable
    public var previous: [[Int]]

    public init(table: FeatureTable, previous: [[Int]]) {
        self.table = table
        self.previous = previous
    }
}

extension BranchHistory {
    /// For builds given by branch, start time (ISO 8601 in UTC, which sorts as text) and run id:
    /// each build's up to `limit` previous builds on its branch, as indices into the same lists,
    /// oldest first. Time order is the start time, then the run id (ids grow with time), as the
    /// trainer orders its rows.
    public static func previous(branches: [String], startedAt: [String], runIds: [Int64], limit: Int) -> [[Int]] {
        let order = branches.indices.sorted { (startedAt[$0], runIds[$0]) < (startedAt[$1], runIds[$1]) }
        var recent: [String: [Int]] = [:]
        var previous = [[Int]](repeating: [], count: branches.count)
        for index in order {
            previous[index] = recent[branches[index]] ?? []
            guard limit > 0 else { continue }
            recent[branches[index], default: []].append(index)
            if recent[branches[index]]!.count > limit { recent[branches[index]]!.removeFirst() }
        }
        return previous
    }
}

extension SequenceMember {
    /// The GRU's probabilities of `sequences`, calibrated, and their spread over the ensemble (nil without one).
    func predict(_ sequences: BranchSequences) throws -> (raw: [Double], probabilities: [Double], uncertainties: [Double?]) {
        let raw = try model.predict(sequences)
        let probabilities = raw.map(calibration.apply)
        let members = try ensemble.map { try $0.predict(sequences).map(calibration.apply) }
        let uncertainties: [Double?] = probabilities.indices.map { row in
            guard members.count > 1 else { return nil }
            return standardDeviation(members.map { $0[row] })
        }
        return (raw, probabilities, uncertainties)
    }

    /// Trains the sequence model on the rows of `training`, each after its earlier builds (the
    /// splits' `previous` rows of `history`, or else the splits' own rows in time order by branch),
    /// calibrates it and chooses its thresholds on the validation builds it would serve (on all of
    /// validation when those are too few or of one class), decides whether it is adopted (it ranks
    /// those builds better than `validationFallback` does, unless `onlyIfBetter` is off), and
    /// evaluates it on the test rows (validation without them) against `fallback`, the main
    /// learner's calibrated probabilities and calls of the same rows. Answers no member when it is
    /// not adopted; the evaluation says so.
    static func train(
        _ configuration: SequenceConfiguration,
        training: LabeledTable, validation: LabeledTable, test: LabeledTable?, history: FeatureTable?,
        fallback: (probabilities: [Double], calledFailed: [Bool], threshold: Double), validationFallback: [Double], parrot: [Double]?,
        seed: UInt64, isCancelled: CancellationCheck, onProgress: (Double, RoundMetrics?) -> Void
    ) throws -> (SequenceMember?, SequenceEvaluation) {
        let preprocessor = try Preprocessor.fit(training.table, options: .linear)
        let length = configuration.length
        let historyMatrix = try history.map { try preprocessor.transform($0) }
        let splits = [training, validation] + (test.map { [$0] } ?? [])
        let matrices = try splits.map { try preprocessor.transform($0.table) }
        // Each split's sequences: from the given history, or from the splits before it and its own
        // rows in time order, by branch.
        let sequences = try splits.indices.map { index -> BranchSequences in
            let split = splits[index]
            if let historyMatrix, let previous = split.previous {
                return try BranchSequences(matrices[index], previous: previous, in: historyMatrix, length: length)
            }
            guard let branches = split.branches, splits[..<index].allSatisfy({ $0.branches != nil }) else {
                throw LearningError.invalidInput("the sequence model needs each build's branch, or its history")
            }
            guard index > 0 else { return try BranchSequences(matrices[0], branches: branches, length: length) }
            let earlier = try FeatureMatrix(
                rowCount: matrices[..<index].reduce(0) { $0 + $1.rowCount }, columnNames: matrices[0].columnNames,
                values: matrices[..<index].flatMap(\.values))
            return try BranchSequences(
                matrices[index], branches: branches, length: length, history: (earlier, splits[..<index].flatMap { $0.branches! }))
        }
        let (trainingSequences, validationSequences) = (sequences[0], sequences[1])
        let evaluated = test ?? validation
        let evaluatedSequences = sequences[sequences.count - 1]

        var parameters = configuration.gru
        parameters.seed = seed
        let members = max(configuration.bootstrapModels, 0)
        let share = 0.9 / Double(1 + members)
        let model = try GRUClassifier.fit(
            trainingSequences, failed: training.failed, validation: (validationSequences, validation.failed), parameters: parameters,
            isCancelled: isCancelled
        ) { onProgress(share * Double($0.round + 1) / Double(max(parameters.epochs, 1)), $0) }
        var random = SplitMix64(seed: seed &+ 101)
        var ensemble: [GRUClassifier] = []
        for member in 0..<members {
            let rows = (0..<trainingSequences.count).map { _ in Int(random.next() % UInt64(trainingSequences.count)) }
            var memberParameters = parameters
            memberParameters.seed = seed &+ UInt64(member + 1)
            ensemble.append(try GRUClassifier.fit(
                trainingSequences.samples(rows), failed: rows.map { training.failed[$0] }, parameters: memberParameters, isCancelled: isCancelled))
            onProgress(share * Double(member + 2), nil)
        }

        // Calibrated and cut on the builds it will serve, unless those cannot carry it.
        let full = validationSequences.earlier.indices.filter { validationSequences.earlier[$0] >= length - 1 }
        let served = full.count >= 20 && Set(full.map { validation.failed[$0] }).count == 2 ? full : Array(validation.failed.indices)
        let raw = try model.predict(validationSequences)
        let calibration = try PlattCalibration.fit(probabilities: served.map { raw[$0] }, failed: served.map { validation.failed[$0] })
        let thresholds = try RiskThresholds.choose(probabilities: served.map { calibration.apply(raw[$0]) }, failed: served.map { validation.failed[$0] })
        let member = SequenceMember(
            length: length, preprocessor: preprocessor, model: model, ensemble: ensemble, calibration: calibration, thresholds: thresholds)
        let validationFailed = served.map { validation.failed[$0] }
        let validationROCAUC = ClassificationMetrics.rocAUC(served.map { raw[$0] }, validationFailed)
        let validationFallbackROCAUC = ClassificationMetrics.rocAUC(served.map { validationFallback[$0] }, validationFailed)
        let adopted = !configuration.onlyIfBetter || (validationROCAUC ?? 0) > (validationFallbackROCAUC ?? 0)

        let probabilities = try model.predict(evaluatedSequences).map(calibration.apply)
        let rows = evaluatedSequences.earlier.indices.filter { evaluatedSequences.earlier[$0] >= length - 1 }
        let failed = rows.map { evaluated.failed[$0] }
        var combined = fallback.probabilities
        var calls = fallback.calledFailed
        for row in rows where adopted {
            combined[row] = probabilities[row]
            calls[row] = probabilities[row] >= thresholds.high
        }
        let evaluation = SequenceEvaluation(
            evaluatedCount: evaluated.failed.count, servedCount: rows.count,
            sequence: rows.isEmpty ? nil : try ClassificationMetrics(probabilities: rows.map { probabilities[$0] }, failed: failed, threshold: thresholds.high),
            fallback: rows.isEmpty ? nil : try ClassificationMetrics(
                probabilities: rows.map { fallback.probabilities[$0] }, failed: failed, threshold: fallback.threshold),
            parrot: rows.isEmpty ? nil : try parrot.map { parrot in try ClassificationMetrics(probabilities: rows.map { parrot[$0] }, failed: failed) },
            served: try ClassificationMetrics(probabilities: combined, failed: evaluated.failed, threshold: fallback.threshold, calledFailed: calls),
            adopted: adopted, validationROCAUC: validationROCAUC, validationFallbackROCAUC: validationFallbackROCAUC)
        return (adopted ? member : nil, evaluation)
    }
}

/// The sample standard deviation (n − 1).
func standardDeviation(_ values: [Double]) -> Double {
    let mean = values.reduce(0, +) / Double(values.count)
    return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot()
}
