import BuildRiskLearning
import Foundation

/// A feature set exported as CSV: a header, then one build per line, no quoting. `time` orders the
/// builds, `failed` (1/0 or true/false) is the outcome, `branch` (with `repository` when present)
/// keys Parrot; every other column is a feature, numeric when all its non-empty values parse as
/// numbers, categorical otherwise; an empty field is missing.
struct BuildCSV {
    var times: [Double]
    var failed: [Bool]
    var branches: [String]
    var repositories: [String]
    var table: FeatureTable

    init(text: String) throws {
        var lines = text.split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard !lines.isEmpty else { throw LearningError.invalidInput("empty CSV") }
        let header = lines.removeFirst()
        func column(_ name: String) throws -> Int {
            guard let index = header.firstIndex(of: name) else { throw LearningError.invalidInput("the CSV has no \(name) column") }
            return index
        }
        let timeIndex = try column("time"), failedIndex = try column("failed"), branchIndex = try column("branch")
        let repositoryIndex = header.firstIndex(of: "repository")
        for (number, fields) in lines.enumerated() where fields.count != header.count {
            throw LearningError.invalidInput("line \(number + 2) has \(fields.count) fields, the header \(header.count)")
        }
        // Time order, stable, so the split below is train = older, test = newer.
        lines = lines.enumerated().sorted { (Double($0.element[timeIndex]) ?? 0, $0.offset) < (Double($1.element[timeIndex]) ?? 0, $1.offset) }.map(\.element)
        times = lines.map { Double($0[timeIndex]) ?? 0 }
        failed = try lines.map { fields in
            switch fields[failedIndex].lowercased() {
            case "1", "true": true
            case "0", "false": false
            case let other: throw LearningError.invalidInput("failed must be 1/0 or true/false, got \(other)")
            }
        }
        branches = lines.map { fields in repositoryIndex.map { "\(fields[$0])#\(fields[branchIndex])" } ?? fields[branchIndex] }
        repositories = lines.map { fields in repositoryIndex.map { fields[$0] } ?? "" }
        var columns: [FeatureTable.Column] = []
        for (index, name) in header.enumerated() where ![timeIndex, failedIndex, branchIndex].contains(index) {
            let raw = lines.map { $0[index] }
            if raw.allSatisfy({ $0.isEmpty || Double($0) != nil }) {
                columns.append(.numeric(name: name, values: raw.map { Double($0) ?? .nan }))
            } else {
                columns.append(.categorical(name: name, values: raw.map { $0.isEmpty ? nil : $0 }))
            }
        }
        table = try FeatureTable(rowCount: lines.count, columns: columns)
    }

    /// Rows `range` of the time-ordered builds.
    func slice(_ range: Range<Int>) throws -> LabeledTable {
        try LabeledTable(table: table.rows(range), failed: Array(failed[range]), branches: Array(branches[range]), repositories: Array(repositories[range]))
    }
}
