/// A dense row-major matrix of model inputs; `Float.nan` marks a missing value (XGBoost's convention).
public struct FeatureMatrix: Sendable, Equatable {
    public let rowCount: Int
    public let columnNames: [String]
    /// `rowCount * columnCount` values, row after row.
    public private(set) var values: [Float]

    public var columnCount: Int { columnNames.count }

    public init(rowCount: Int, columnNames: [String], values: [Float]) throws(LearningError) {
        guard values.count == rowCount * columnNames.count else {
            throw .invalidInput("a \(rowCount) × \(columnNames.count) matrix needs \(rowCount * columnNames.count) values, got \(values.count)")
        }
        self.rowCount = rowCount
        self.columnNames = columnNames
        self.values = values
    }

    public subscript(row: Int, column: Int) -> Float {
        values[row * columnCount + column]
    }

    public func row(_ index: Int) -> ArraySlice<Float> {
        values[index * columnCount..<(index + 1) * columnCount]
    }

    /// The rows at `indices`, in that order (repeats allowed, as a bootstrap resample needs).
    public func rows(_ indices: some Collection<Int>) -> FeatureMatrix {
        var picked: [Float] = []
        picked.reserveCapacity(indices.count * columnCount)
        for index in indices { picked.append(contentsOf: row(index)) }
        return FeatureMatrix(unchecked: indices.count, columnNames, picked)
    }

    init(unchecked rowCount: Int, _ columnNames: [String], _ values: [Float]) {
        self.rowCount = rowCount
        self.columnNames = columnNames
        self.values = values
    }
}

/// A matrix with one outcome per row (`true` = the build failed).
public struct LabeledMatrix: Sendable {
    public let features: FeatureMatrix
    public let failed: [Bool]

    public init(features: FeatureMatrix, failed: [Bool]) throws(LearningError) {
        guard features.rowCount == failed.count else {
            throw .invalidInput("\(features.rowCount) rows but \(failed.count) labels")
        }
        self.features = features
        self.failed = failed
    }

    public var floatLabels: [Float] { failed.map { $0 ? 1 : 0 } }

    public func rows(_ indices: some Collection<Int>) -> LabeledMatrix {
        LabeledMatrix(unchecked: features.rows(indices), indices.map { failed[$0] })
    }

    init(unchecked features: FeatureMatrix, _ failed: [Bool]) {
        self.features = features
        self.failed = failed
    }
}
