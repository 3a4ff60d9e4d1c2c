import BuildRiskContracts
import Foundation

/// Random search over a declared space: each trial draws every dimension independently
/// (uniform, log-uniform, whole numbers, or one of the listed values).
enum RandomSearch {
    static let searchable = ["rounds", "maxDepth", "learningRate", "l2", "maxIterations", "bootstrapModels"]

    /// Throws a reason when the space cannot be searched: too few or many trials, an unknown or
    /// repeated name, bounds that are missing, reversed or outside the parameter's own range.
    static func validate(_ parameters: TrainingParameters) throws {
        guard let space = parameters.search else { return }
        guard (2...50).contains(space.trials) else { throw TrainingDataError("search.trials must be in 2...50, got \(space.trials)") }
        guard !space.dimensions.isEmpty, Set(space.dimensions.map(\.name)).count == space.dimensions.count else {
            throw TrainingDataError("search.dimensions names one or more different parameters")
        }
        if space.strategy == .successiveHalving {
            guard parameters.kind == "xgboost" else {
                throw TrainingDataError("search.strategy successive_halving spends boosting rounds: it needs kind xgboost")
            }
            guard !space.dimensions.contains(where: { $0.name == "rounds" }) else {
                throw TrainingDataError("search.strategy successive_halving sets the rounds itself (up to the job's rounds): 'rounds' cannot be a dimension")
            }
        }
        for dimension in space.dimensions {
            guard searchable.contains(dimension.name) else {
                throw TrainingDataError("search.dimensions: '\(dimension.name)' is not one of \(searchable.joined(separator: ", "))")
            }
            let extremes: [Double]
            if dimension.type == .categorical {
                guard let values = dimension.values, !values.isEmpty else {
                    throw TrainingDataError("search.dimensions: categorical '\(dimension.name)' needs values")
                }
                extremes = values
            } else {
                guard let min = dimension.min, let max = dimension.max, min <= max, dimension.type != .logFloat || min > 0 else {
                    throw TrainingDataError("search.dimensions: '\(dimension.name)' needs min ≤ max\(dimension.type == .logFloat ? ", both above 0" : "")")
                }
                if dimension.type == .int, min.rounded(.up) > max.rounded(.down) {
                    throw TrainingDataError("search.dimensions: '\(dimension.name)' holds no whole number")
                }
                extremes = [min, max]
            }
            for value in extremes {
                var trial = parameters
                trial.search = nil
                _ = try TrainingParametersMapping.configuration(apply(dimension.name, value, to: trial))
            }
        }
    }

    /// One trial's parameters: the job's, with every dimension drawn.
    static func sample(_ parameters: TrainingParameters, using generator: inout some RandomNumberGenerator) -> TrainingParameters {
        var trial = parameters
        trial.search = nil
        for dimension in parameters.search?.dimensions ?? [] {
            let low = dimension.min ?? 0, high = dimension.max ?? 0
            let value: Double = switch dimension.type {
            case .int: Double(Int.random(in: Int(low.rounded(.up))...Int(high.rounded(.down)), using: &generator))
            case .float: Double.random(in: low...high, using: &generator)
            case .logFloat: exp(Double.random(in: log(low)...log(high), using: &generator))
            case .categorical: dimension.values?.randomElement(using: &generator) ?? low
            }
            trial = apply(dimension.name, value, to: trial)
        }
        return trial
    }

    static func apply(_ name: String, _ value: Double, to parameters: TrainingParameters) -> TrainingParameters {
        var parameters = parameters
        switch name {
        case "rounds": parameters.rounds = Int(value.rounded())
        case "maxDepth": parameters.maxDepth = Int(value.rounded())
        case "learningRate": parameters.learningRate = value
        case "l2": parameters.l2 = value
        case "maxIterations": parameters.maxIterations = Int(value.rounded())
        case "bootstrapModels": parameters.bootstrapModels = Int(value.rounded())
        default: break
        }
        return parameters
    }

    /// The drawn values, for the job's log.
    static func describe(_ parameters: TrainingParameters) -> String {
        [
            parameters.rounds.map { "rounds \($0)" }, parameters.maxDepth.map { "maxDepth \($0)" },
            parameters.learningRate.map { String(format: "learningRate %.4g", $0) }, parameters.l2.map { String(format: "l2 %.4g", $0) },
            parameters.maxIterations.map { "maxIterations \($0)" }, parameters.bootstrapModels.map { "bootstrapModels \($0)" },
        ].compactMap { $0 }.joined(separator: ", ")
    }
}
