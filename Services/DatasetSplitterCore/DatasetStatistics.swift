import BuildRiskContracts
import Foundation

/// One column's running statistics: count and missing; min, max, mean and variance (Welford) of
/// numbers; counts of the distinct values of strings, booleans and list elements, up to
/// ``distinctLimit`` distinct values (later new values are only counted as others). Memory is
/// bounded whatever the version's size.
struct ColumnAccumulator: Sendable {
    static let distinctLimit = 1000

    let column: DatasetColumn
    var count = 0
    var missing = 0
    var minimum = Double.infinity
    var maximum = -Double.infinity
    var numbers = 0
    var mean = 0.0
    var m2 = 0.0
    var values: [String: Int] = [:]
    var others = 0

    init(_ column: DatasetColumn) {
        self.column = column
    }

    var isNumeric: Bool { column.type == .integer || column.type == .number }

    mutating func add(_ value: FeatureValue) {
        if case .null = value {
            missing += 1
            return
        }
        count += 1
        if isNumeric {
            guard let number = value.double, number.isFinite else { return }
            numbers += 1
            minimum = min(minimum, number)
            maximum = max(maximum, number)
            let delta = number - mean
            mean += delta / Double(numbers)
            m2 += delta * (number - mean)
        } else if let list = value.strings {
            for element in list { tally(element) }
        } else {
            tally(ExportFormat.csvText(value))
        }
    }

    private mutating func tally(_ text: String) {
        if let seen = values[text] {
            values[text] = seen + 1
        } else if values.count < Self.distinctLimit {
            values[text] = 1
        } else {
            others += 1
        }
    }

    var statistics: DatasetColumnStatistics {
        if isNumeric {
            return DatasetColumnStatistics(
                column: column.name, count: count, missing: missing, min: numbers > 0 ? minimum : nil, max: numbers > 0 ? maximum : nil,
                mean: numbers > 0 ? mean : nil, std: numbers > 1 ? (m2 / Double(numbers - 1)).squareRoot() : nil)
        }
        let top = values.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(10)
        return DatasetColumnStatistics(
            column: column.name, count: count, missing: missing, topValues: top.map { DatasetValueCount(value: $0.key, count: $0.value) },
            distinct: values.count, otherValues: others)
    }
}

/// A numeric column's histogram over equal-width bins from `lower` to `upper`, the last bin closed.
struct Histogram: Sendable {
    let lower: Double
    let upper: Double
    var bins: [DatasetHistogramBin]

    init(lower: Double, upper: Double, bins: Int) {
        self.lower = lower
        self.upper = upper
        let count = lower == upper ? 1 : bins
        let width = (upper - lower) / Double(count)
        self.bins = (0..<count).map {
            DatasetHistogramBin(
                lower: lower + Double($0) * width, upper: $0 == count - 1 ? upper : lower + Double($0 + 1) * width, count: 0, failed: 0, passed: 0)
        }
    }

    mutating func add(_ value: Double, passed: Bool?) {
        let index: Int
        if bins.count == 1 || upper == lower {
            index = 0
        } else {
            index = min(max(Int(((value - lower) / (upper - lower) * Double(bins.count)).rounded(.down)), 0), bins.count - 1)
        }
        bins[index].count += 1
        if let passed {
            if passed { bins[index].passed += 1 } else { bins[index].failed += 1 }
        }
    }
}

/// Category counts with the class split; distinct values beyond ``ColumnAccumulator/distinctLimit`` × 10 are counted as `other`.
struct CategoryCounter: Sendable {
    static let shown = 50
    var counts: [String: DatasetCategoryCount] = [:]
    var other = DatasetCategoryCount(value: "other", count: 0, failed: 0, passed: 0)

    mutating func add(_ text: String, passed: Bool?) {
        if counts[text] == nil, counts.count >= ColumnAccumulator.distinctLimit * 10 {
            bump(&other, passed)
            return
        }
        var entry = counts[text] ?? DatasetCategoryCount(value: text, count: 0, failed: 0, passed: 0)
        bump(&entry, passed)
        counts[text] = entry
    }

    private func bump(_ entry: inout DatasetCategoryCount, _ passed: Bool?) {
        entry.count += 1
        if let passed {
            if passed { entry.passed += 1 } else { entry.failed += 1 }
        }
    }

    /// The 50 most frequent values, then one `other` entry for the rest.
    var categories: [DatasetCategoryCount] {
        let sorted = counts.values.sorted { $0.count != $1.count ? $0.count > $1.count : $0.value < $1.value }
        var rest = other
        for entry in sorted.dropFirst(Self.shown) {
            rest.count += entry.count
            rest.failed += entry.failed
            rest.passed += entry.passed
        }
        return Array(sorted.prefix(Self.shown)) + (rest.count > 0 ? [rest] : [])
    }
}

/// Pearson and Spearman correlations over columns held in memory (NaN = missing), pairwise
/// complete: each pair uses the builds where both have a value.
enum Correlations {
    /// Pearson's r of the pairs where both are present; nil below two pairs or with a constant side.
    static func pearson(_ x: [Double], _ y: [Double]) -> (r: Double?, n: Int) {
        var n = 0
        var meanX = 0.0, meanY = 0.0, cxx = 0.0, cyy = 0.0, cxy = 0.0
        for index in x.indices where !x[index].isNaN && !y[index].isNaN {
            n += 1
            let dx = x[index] - meanX
            let dy = y[index] - meanY
            meanX += dx / Double(n)
            meanY += dy / Double(n)
            cxx += dx * (x[index] - meanX)
            cyy += dy * (y[index] - meanY)
            cxy += dx * (y[index] - meanY)
        }
        guard n >= 2, cxx > 0, cyy > 0 else { return (nil, n) }
        return (min(max(cxy / (cxx * cyy).squareRoot(), -1), 1), n)
    }

    /// Ranks of the present values (ties get their average rank); NaN stays NaN.
    static func ranks(_ values: [Double]) -> [Double] {
        let present = values.indices.filter { !values[$0].isNaN }.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: .nan, count: values.count)
        var start = 0
        while start < present.count {
            var end = start
            while end + 1 < present.count, values[present[end + 1]] == values[present[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for position in start...end { ranks[present[position]] = rank }
            start = end + 1
        }
        return ranks
    }

    /// Both matrices and the pairwise counts. Spearman ranks each column once; a pair whose
    /// complete rows are fewer than either column's present values is ranked again on those rows.
    static func matrices(_ columns: [[Double]]) -> (pearson: [[Double?]], spearman: [[Double?]], n: [[Int]]) {
        let k = columns.count
        let present = columns.map { $0.reduce(0) { $1.isNaN ? $0 : $0 + 1 } }
        let ranked = columns.map(ranks)
        var pearson = [[Double?]](repeating: [Double?](repeating: nil, count: k), count: k)
        var spearman = pearson
        var n = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for i in 0..<k {
            for j in i..<k {
                let (r, pairs) = Self.pearson(columns[i], columns[j])
                pearson[i][j] = r
                pearson[j][i] = r
                n[i][j] = pairs
                n[j][i] = pairs
                let rho: Double?
                if pairs == present[i] && pairs == present[j] {
                    rho = Self.pearson(ranked[i], ranked[j]).r
                } else {
                    let both = columns[i].indices.filter { !columns[i][$0].isNaN && !columns[j][$0].isNaN }
                    rho = Self.pearson(ranks(both.map { columns[i][$0] }), ranks(both.map { columns[j][$0] })).r
                }
                spearman[i][j] = rho
                spearman[j][i] = rho
            }
        }
        return (pearson, spearman, n)
    }
}
