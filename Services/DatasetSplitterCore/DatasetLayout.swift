import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation

/// What the splitter needs of the feature catalogue (`features.catalogue`): each feature's type and category.
struct CatalogueFacts: Sendable {
    struct Feature: Decodable, Sendable {
        var name: String
        var type: String
        var category: String
    }
    private struct Document: Decodable {
        var features: [Feature]
    }

    let byName: [String: Feature]

    init(json: String) throws {
        let document = try JSONDecoder().decode(Document.self, from: Data(json.utf8))
        byName = Dictionary(document.features.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func type(of feature: String) -> DatasetColumnType? { byName[feature].flatMap { DatasetColumnType(rawValue: $0.type) } }

    /// Identifiers, numbers and timestamps of a build: left out when rows are compared for duplicates.
    func isIdentifier(_ feature: String) -> Bool { byName[feature]?.category == "metadata" }
}

/// The catalogue, asked of the feature-extractor once and kept; asked again after a failure, or
/// when a spec names a feature the kept one does not know (the extractor was upgraded).
actor CatalogueCache {
    let directory: ServiceDirectory
    private var facts: CatalogueFacts?

    init(directory: ServiceDirectory) {
        self.directory = directory
    }

    func facts(for features: [String]) async throws -> CatalogueFacts {
        if let facts, features.allSatisfy({ facts.byName[$0] != nil }) { return facts }
        let text = try await directory.client(for: .featureExtractor).call(FeatureMethods.catalogue, Empty())
        let loaded = try CatalogueFacts(json: text.json)
        facts = loaded
        return loaded
    }
}

/// A version's columns, in the one order the data view, the streaming export and the export job
/// share: the build's columns, the features in the spec's order, the scan metrics sorted by name.
struct DatasetLayout: Sendable, Equatable {
    static let buildColumns = [
        DatasetColumn(name: "repository", source: .build, type: .string),
        DatasetColumn(name: "run_id", source: .build, type: .integer),
        DatasetColumn(name: "commit_sha", source: .build, type: .string),
        DatasetColumn(name: "extraction_status", source: .build, type: .string),
    ]

    /// After the scan metrics when the spec asks for predictions: the build's current prediction.
    static let predictionColumns = [
        DatasetColumn(name: "prediction_status", source: .prediction, type: .string),
        DatasetColumn(name: "risk_level", source: .prediction, type: .string),
        DatasetColumn(name: "risk_score", source: .prediction, type: .number),
        DatasetColumn(name: "risk_uncertainty", source: .prediction, type: .number),
        DatasetColumn(name: "model_name", source: .prediction, type: .string),
        DatasetColumn(name: "model_version", source: .prediction, type: .integer),
    ]

    let features: [String]
    let metrics: [String]
    let withPredictions: Bool
    let columns: [DatasetColumn]

    init(spec: DatasetVersionSpec, metrics: [String], catalogue: CatalogueFacts) {
        features = spec.features
        self.metrics = metrics
        withPredictions = spec.withPredictions == true
        columns = Self.buildColumns
            + spec.features.map { DatasetColumn(name: $0, source: .feature, type: catalogue.type(of: $0) ?? .string) }
            + metrics.map { DatasetColumn(name: $0, source: .scanMetric, type: .number) }
            + (withPredictions ? Self.predictionColumns : [])
    }

    /// The row's values, aligned with ``columns``.
    func values(of row: VersionRow) -> [FeatureValue] {
        let vector = row.vector
        var values: [FeatureValue] = [
            .string(row.repository), .integer(Int(vector.runId)), vector.commitSha.map(FeatureValue.string) ?? .null, .string(vector.status.rawValue),
        ]
        values.reserveCapacity(columns.count)
        for feature in features { values.append(vector.features?[feature] ?? .null) }
        for metric in metrics { values.append(vector.scanMetrics?[metric].map(FeatureValue.number) ?? .null) }
        if withPredictions {
            let prediction = row.prediction
            // A build the predictor has never seen (not yet predicted) is pending like one waiting for a model.
            values.append(.string(prediction?.status.rawValue ?? PredictionStatus.pending.rawValue))
            values.append(prediction?.riskLevel.map { .string($0.rawValue) } ?? .null)
            values.append(prediction?.score.map(FeatureValue.number) ?? .null)
            values.append(prediction?.uncertainty.map(FeatureValue.number) ?? .null)
            values.append(prediction?.modelName.map(FeatureValue.string) ?? .null)
            values.append(prediction?.modelVersion.map(FeatureValue.integer) ?? .null)
        }
        return values
    }

    /// Whether a scan metric's name is selected by the spec (its names and `*` wildcards; empty selects all).
    static func selects(_ patterns: [String], _ metric: String) -> Bool {
        patterns.isEmpty || patterns.contains { glob($0, metric) }
    }

    /// `*` matches any run of characters; everything else itself.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        guard parts.count > 1 else { return pattern == text }
        var rest = Substring(text)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        let last = parts[parts.count - 1]
        return rest.count >= last.count && rest.hasSuffix(last)
    }
}

/// Builds a version's layout: the scan-metric columns are the spec's names when it names them
/// all, otherwise the metrics its wildcards (or an empty selection) match in the version's
/// vectors — found by one pass, which a cursor then carries so later pages need none.
struct LayoutResolver: Sendable {
    let directory: ServiceDirectory
    let catalogue: CatalogueCache

    func layout(_ spec: DatasetVersionSpec, knownMetrics: [String]? = nil) async throws -> DatasetLayout {
        let facts = try await catalogue.facts(for: spec.features)
        if let knownMetrics { return DatasetLayout(spec: spec, metrics: knownMetrics, catalogue: facts) }
        if !spec.scanMetrics.isEmpty, !spec.scanMetrics.contains(where: { $0.contains("*") }) {
            return DatasetLayout(spec: spec, metrics: Array(Set(spec.scanMetrics)).sorted(), catalogue: facts)
        }
        var found = Set<String>()
        try await VersionReader(directory: directory, spec: spec).read { rows in
            for row in rows {
                for metric in (row.vector.scanMetrics ?? [:]).keys where !found.contains(metric) && DatasetLayout.selects(spec.scanMetrics, metric) {
                    found.insert(metric)
                }
            }
        }
        return DatasetLayout(spec: spec, metrics: found.sorted(), catalogue: facts)
    }
}

/// The opaque cursor of the data view and the streaming export: where the next page starts, and
/// the scan-metric columns of the first page (so the columns stay the same to the last page).
struct DatasetCursor: Codable, Sendable, Equatable {
    var position: VersionPosition
    var metrics: [String]

    func encoded() -> String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The cursor `text` encodes, checked against the spec; throws invalid input for anything else.
    init(decoding text: String, spec: DatasetVersionSpec) throws {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let cursor = try? JSONDecoder().decode(DatasetCursor.self, from: data),
            (0...spec.pipelines.count).contains(cursor.position.pipeline),
            cursor.metrics.allSatisfy({ DatasetLayout.selects(spec.scanMetrics, $0) })
        else {
            throw RPCError(.invalidInput, "Invalid cursor", reason: "the cursor is not one this version's pages gave")
        }
        self = cursor
    }

    init(position: VersionPosition, metrics: [String]) {
        self.position = position
        self.metrics = metrics
    }
}
