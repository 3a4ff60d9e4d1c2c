/// Raw feature columns as the feature extractor gives them, before any preprocessing.
public struct FeatureTable: Sendable {
    public enum Column: Sendable {
        /// `Double.nan` marks a missing value.
        case numeric(name: String, values: [Double])
        /// `nil` marks a missing value.
        case categorical(name: String, values: [String?])

        public var name: String {
            switch self {
            case .numeric(let name, _), .categorical(let name, _): name
            }
        }

        var count: Int {
            switch self {
            case .numeric(_, let values): values.count
            case .categorical(_, let values): values.count
            }
        }
    }

    public let rowCount: Int
    public let columns: [Column]

    public init(rowCount: Int, columns: [Column]) throws(LearningError) {
        for column in columns where column.count != rowCount {
            throw .invalidInput("column \(column.name) has \(column.count) values for \(rowCount) rows")
        }
        var seen = Set<String>()
        for column in columns where !seen.insert(column.name).inserted {
            throw .invalidInput("column \(column.name) appears twice")
        }
        self.rowCount = rowCount
        self.columns = columns
    }

    public func rows(_ indices: some Collection<Int>) -> FeatureTable {
        let picked: [Column] = columns.map { column in
            switch column {
            case .numeric(let name, let values): .numeric(name: name, values: indices.map { values[$0] })
            case .categorical(let name, let values): .categorical(name: name, values: indices.map { values[$0] })
            }
        }
        return try! FeatureTable(rowCount: indices.count, columns: picked)  // same lengths by construction
    }
}

/// A raw table with one outcome per row, in time order; `branches` (a key per row naming the
/// repository and branch) lets an evaluation put the Parrot baseline beside the model, and
/// `repositories` (one per row) splits the evaluation per repository.
public struct LabeledTable: Sendable {
    public let table: FeatureTable
    public let failed: [Bool]
    public let branches: [String]?
    public let repositories: [String]?
    /// For the sequence model: each row's earlier builds of its branch, oldest first, as rows of the
    /// history table the trainer is given (every build that started before it, labelled or not, as
    /// the predictor serves it). Nil: the splits' own rows in time order, by `branches`, are the history.
    public let previous: [[Int]]?

    public init(
        table: FeatureTable, failed: [Bool], branches: [String]? = nil, repositories: [String]? = nil, previous: [[Int]]? = nil
    ) throws(LearningError) {
        guard failed.count == table.rowCount else {
            throw .invalidInput("\(table.rowCount) rows but \(failed.count) labels")
        }
        if let branches, branches.count != table.rowCount {
            throw .invalidInput("\(table.rowCount) rows but \(branches.count) branch keys")
        }
        if let repositories, repositories.count != table.rowCount {
            throw .invalidInput("\(table.rowCount) rows but \(repositories.count) repositories")
        }
        if let previous, previous.count != table.rowCount {
            throw .invalidInput("\(table.rowCount) rows but \(previous.count) histories")
        }
        self.table = table
        self.failed = failed
        self.branches = branches
        self.repositories = repositories
        self.previous = previous
    }
}
