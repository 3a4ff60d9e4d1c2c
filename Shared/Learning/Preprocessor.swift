/// Turns a `FeatureTable` into a `FeatureMatrix` with statistics fitted on the training rows only,
/// and is saved with the model so prediction applies exactly the same transformation.
///
/// Numeric columns: a missing value becomes the training median and a `<name>#missing` indicator
/// column (added only when the training rows had missing values) keeps the fact visible; then
/// standard scaling with the training mean and standard deviation. Trees need neither, so
/// `Options.trees` keeps missing values as NaN (XGBoost learns a default direction per split) and
/// leaves the scale alone. Categorical columns: one-hot of the values seen in training (the most
/// frequent `maxCategories`), plus `<name>=#missing` when training had missing values; a value never
/// seen in training sets no column.
public struct Preprocessor: Codable, Sendable, Equatable {
    public struct Options: Codable, Sendable, Equatable {
        public var imputeMissing: Bool
        public var standardize: Bool
        public var maxCategories: Int

        public init(imputeMissing: Bool, standardize: Bool, maxCategories: Int = 50) {
            self.imputeMissing = imputeMissing
            self.standardize = standardize
            self.maxCategories = maxCategories
        }

        /// For linear models and networks: impute, indicate, scale.
        public static let linear = Options(imputeMissing: true, standardize: true)
        /// For gradient-boosted trees: NaN stays missing, no scaling.
        public static let trees = Options(imputeMissing: false, standardize: false)
    }

    struct Numeric: Codable, Sendable, Equatable {
        var name: String
        var median: Double
        var mean: Double
        var scale: Double
        var missingIndicator: Bool
    }

    struct Categorical: Codable, Sendable, Equatable {
        var name: String
        var categories: [String]
        var missingColumn: Bool
    }

    enum Step: Codable, Sendable, Equatable {
        case numeric(Numeric)
        case categorical(Categorical)
    }

    public let options: Options
    let steps: [Step]
    /// The names of the matrix columns `transform` produces, in order.
    public let outputNames: [String]

    /// The raw columns read as categories (the others are numeric), so a caller holding untyped
    /// values builds the `FeatureTable` this preprocessor was fitted on.
    public var categoricalColumns: Set<String> {
        Set(steps.compactMap { if case .categorical(let categorical) = $0 { categorical.name } else { nil } })
    }

    /// Fits on `training` only; nothing from validation or test rows may reach these statistics.
    public static func fit(_ training: FeatureTable, options: Options) throws(LearningError) -> Preprocessor {
        guard training.rowCount > 0 else { throw .invalidInput("no training rows to fit preprocessing on") }
        var steps: [Step] = []
        var names: [String] = []
        for column in training.columns {
            switch column {
            case .numeric(let name, let values):
                let present = values.filter { !$0.isNaN }
                let hasMissing = present.count < values.count
                let median = Self.median(present)
                var mean = 0.0, scale = 1.0
                if options.standardize {
                    let filled = options.imputeMissing ? values.map { $0.isNaN ? median : $0 } : present
                    if !filled.isEmpty {
                        mean = filled.reduce(0, +) / Double(filled.count)
                        let variance = filled.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(filled.count)
                        scale = variance > 1e-24 ? variance.squareRoot() : 1
                    }
                }
                let indicator = options.imputeMissing && hasMissing
                steps.append(.numeric(Numeric(name: name, median: median, mean: mean, scale: scale, missingIndicator: indicator)))
                names.append(name)
                if indicator { names.append("\(name)#missing") }
            case .categorical(let name, let values):
                var counts: [String: Int] = [:]
                var hasMissing = false
                for value in values {
                    if let value { counts[value, default: 0] += 1 } else { hasMissing = true }
                }
                // Most frequent first, ties by name, so the column order does not depend on hashing.
                let categories = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                    .prefix(options.maxCategories).map(\.key)
                steps.append(.categorical(Categorical(name: name, categories: categories, missingColumn: hasMissing)))
                names += categories.map { "\(name)=\($0)" }
                if hasMissing { names.append("\(name)=#missing") }
            }
        }
        return Preprocessor(options: options, steps: steps, outputNames: names)
    }

    /// Applies the fitted statistics; `table` must have every fitted column, with the same kind.
    public func transform(_ table: FeatureTable) throws(LearningError) -> FeatureMatrix {
        var byName: [String: FeatureTable.Column] = [:]
        for column in table.columns { byName[column.name] = column }
        let width = outputNames.count
        var values = [Float](repeating: 0, count: table.rowCount * width)
        var offset = 0
        for step in steps {
            switch step {
            case .numeric(let numeric):
                guard case .numeric(_, let column)? = byName[numeric.name] else {
                    throw .invalidInput("numeric column \(numeric.name) is missing")
                }
                for row in 0..<table.rowCount {
                    var value = column[row]
                    let missing = value.isNaN
                    if missing && options.imputeMissing { value = numeric.median }
                    values[row * width + offset] = missing && !options.imputeMissing
                        ? .nan : Float((value - numeric.mean) / numeric.scale)
                    if numeric.missingIndicator { values[row * width + offset + 1] = missing ? 1 : 0 }
                }
                offset += numeric.missingIndicator ? 2 : 1
            case .categorical(let categorical):
                guard case .categorical(_, let column)? = byName[categorical.name] else {
                    throw .invalidInput("categorical column \(categorical.name) is missing")
                }
                let index = Dictionary(uniqueKeysWithValues: categorical.categories.enumerated().map { ($1, $0) })
                for row in 0..<table.rowCount {
                    if let value = column[row] {
                        if let position = index[value] { values[row * width + offset + position] = 1 }
                    } else if categorical.missingColumn {
                        values[row * width + offset + categorical.categories.count] = 1
                    }
                }
                offset += categorical.categories.count + (categorical.missingColumn ? 1 : 0)
            }
        }
        return FeatureMatrix(unchecked: table.rowCount, outputNames, values)
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count.isMultiple(of: 2) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
    }
}
