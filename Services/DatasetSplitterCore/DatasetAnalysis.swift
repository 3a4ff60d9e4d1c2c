import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation

/// The data view, distributions and correlations of a version, each computed by walking the
/// version page by page. Only correlations hold values: the chosen numeric columns of at most
/// ``maxCorrelationCells`` cells (8 bytes each, 32 MB), a seeded reservoir sample of the builds beyond.
struct DatasetAnalysis: Sendable {
    let directory: ServiceDirectory
    let layouts: LayoutResolver

    static let maxCorrelationCells = 4_000_000
    static let defaultBins = 20

    func reader(_ spec: DatasetVersionSpec) -> VersionReader { VersionReader(directory: directory, spec: spec) }

    // MARK: Data view

    func page(_ params: DatasetDataParams) async throws -> DatasetDataPage {
        let cursor = try params.cursor.map { try DatasetCursor(decoding: $0, spec: params.spec) }
        let layout = try await layouts.layout(params.spec, knownMetrics: cursor?.metrics)
        let reader = reader(params.spec)
        var statistics: [DatasetColumnStatistics] = []
        var total: Int
        if params.withStatistics {
            var accumulators = layout.columns.map(ColumnAccumulator.init)
            total = 0
            try await reader.read { rows in
                for row in rows {
                    for (index, value) in layout.values(of: row).enumerated() { accumulators[index].add(value) }
                }
                total += rows.count
            }
            statistics = accumulators.map(\.statistics)
        } else {
            total = try await reader.count().builds
        }
        var position = cursor?.position ?? .start
        if cursor == nil, let offset = params.offset, offset > 0 {
            // Skipping reads the rows before the offset (the feature-extractor pages by run id): a cursor is cheaper.
            guard let after = try await reader.read(from: position, limit: offset, pageSize: 1000, { _ in }) else {
                return DatasetDataPage(versionId: params.spec.versionId, columns: layout.columns, rows: [], total: total, nextCursor: nil, statistics: statistics)
            }
            position = after
        }
        var rows: [[FeatureValue]] = []
        let next = try await reader.read(from: position, limit: params.limit) { page in
            rows += page.map(layout.values)
        }
        return DatasetDataPage(
            versionId: params.spec.versionId, columns: layout.columns, rows: rows, total: total,
            nextCursor: next.map { DatasetCursor(position: $0, metrics: layout.metrics).encoded() }, statistics: statistics)
    }

    // MARK: Distribution

    func distribution(_ params: DatasetDistributionParams) async throws -> DatasetDistribution {
        let layout = try await layouts.layout(params.spec)
        guard let index = layout.columns.firstIndex(where: { $0.name == params.feature && $0.source != .build }) else {
            throw RPCError(.invalidInput, "Unknown column", reason: "'\(params.feature)' is not a feature or scan metric of version \(params.spec.versionId)")
        }
        let column = layout.columns[index]
        let bins = params.bins ?? Self.defaultBins
        let reader = reader(params.spec)
        var total = 0
        var missing = 0
        if column.type == .integer || column.type == .number {
            // Two passes, nothing held: the range first, then the counts.
            var range = ColumnAccumulator(column)
            try await reader.read { rows in
                for row in rows { range.add(layout.values(of: row)[index]) }
            }
            guard range.numbers > 0 else {
                return DatasetDistribution(
                    versionId: params.spec.versionId, feature: column.name, kind: .histogram, total: range.count + range.missing,
                    missing: range.count + range.missing, bins: [], categories: nil)
            }
            var histogram = Histogram(lower: range.minimum, upper: range.maximum, bins: bins)
            try await reader.read { rows in
                for row in rows {
                    total += 1
                    if let number = layout.values(of: row)[index].double, number.isFinite {
                        histogram.add(number, passed: row.passed)
                    } else {
                        missing += 1
                    }
                }
            }
            return DatasetDistribution(
                versionId: params.spec.versionId, feature: column.name, kind: .histogram, total: total, missing: missing, bins: histogram.bins, categories: nil)
        }
        var counter = CategoryCounter()
        try await reader.read { rows in
            for row in rows {
                total += 1
                let value = layout.values(of: row)[index]
                switch value {
                case .null: missing += 1
                case .stringList(let list): for element in list { counter.add(element, passed: row.passed) }
                default: counter.add(ExportFormat.csvText(value), passed: row.passed)
                }
            }
        }
        return DatasetDistribution(
            versionId: params.spec.versionId, feature: column.name, kind: .categories, total: total, missing: missing, bins: nil, categories: counter.categories)
    }

    // MARK: Correlation

    func correlation(_ params: DatasetCorrelationParams) async throws -> DatasetCorrelation {
        let layout = try await layouts.layout(params.spec)
        let numeric = layout.columns.enumerated().filter { $0.element.source != .build && [.integer, .number, .boolean].contains($0.element.type) }
        let chosen: [(offset: Int, element: DatasetColumn)]
        if let names = params.features {
            guard names.count >= 2, Set(names).count == names.count else {
                throw RPCError(.invalidInput, "Invalid features", reason: "name at least two different columns")
            }
            chosen = try names.map { name in
                guard let column = numeric.first(where: { $0.element.name == name }) else {
                    throw RPCError(.invalidInput, "Invalid features", reason: "'\(name)' is not a numeric or boolean feature or scan metric of version \(params.spec.versionId)")
                }
                return column
            }
        } else {
            chosen = numeric
        }
        let k = chosen.count
        let capacity = max(1000, Self.maxCorrelationCells / max(k, 1))
        var columns = [[Double]](repeating: [], count: k)
        var seen = 0
        var generator = SplitMix64(seed: 0x5EED)
        try await reader(params.spec).read { rows in
            for row in rows {
                let values = layout.values(of: row)
                let numbers = chosen.map { column -> Double in
                    switch values[column.offset] {
                    case .boolean(let flag): flag ? 1 : 0
                    case let value: value.double ?? .nan
                    }
                }
                seen += 1
                if seen <= capacity {
                    for index in 0..<k { columns[index].append(numbers[index]) }
                } else {
                    // Reservoir sampling (Algorithm R): every build has the same chance to be kept.
                    let slot = Int.random(in: 0..<seen, using: &generator)
                    if slot < capacity { for index in 0..<k { columns[index][slot] = numbers[index] } }
                }
            }
        }
        let matrices = Correlations.matrices(columns)
        return DatasetCorrelation(
            versionId: params.spec.versionId, features: chosen.map(\.element.name), pearson: matrices.pearson, spearman: matrices.spearman,
            n: matrices.n, rows: min(seen, capacity), sampled: seen > capacity)
    }
}
