import BuildRiskContracts
import Foundation

/// A feature: its declaration and its computation over one build's context.
public struct Feature: Sendable {
    public let definition: FeatureDefinition
    let compute: @Sendable (BuildContext) throws -> FeatureValue
}

/// A declaration the DAG refuses.
public enum FeatureDAGError: Error, Equatable, CustomStringConvertible {
    case duplicate(String)
    /// Dependencies must be declared before the features that use them (which also rules out cycles).
    case undeclaredDependency(feature: String, dependency: String)

    public var description: String {
        switch self {
        case .duplicate(let name): "feature \(name) is declared twice"
        case .undeclaredDependency(let feature, let dependency): "feature \(feature) depends on \(dependency), which is not declared before it"
        }
    }
}

/// A selection the DAG refuses (mapped to invalid params at the service's edge).
public enum FeatureSelectionError: Error, Equatable, CustomStringConvertible {
    case empty
    case unknownFeature(String)
    case patternMatchesNothing(String)

    public var description: String {
        switch self {
        case .empty: "select at least one feature (a name or a wildcard such as git_* or *)"
        case .unknownFeature(let name): "no feature is named \(name)"
        case .patternMatchesNothing(let pattern): "no feature matches \(pattern)"
        }
    }
}

/// The selected features with their dependencies, in evaluation order, and what they need.
public struct FeatureSelection: Sendable {
    public let features: [Feature]
    /// The names asked for (wildcards expanded), without the dependencies pulled in.
    public let requested: [String]
    public let resources: [FeatureResource]
    public let dagVersion: String

    /// The inputs the selected features read.
    public var inputs: Set<FeatureInput> { Set(features.flatMap(\.definition.inputs)) }

    public var names: [String] { features.map(\.definition.name) }

    /// The selection as the contract states it, with what its pipeline must ingest.
    public var resolved: ResolvedFeatureSelection {
        var ingestion: Set<IngestionResource> = [.gitHistory]
        for resource in resources {
            switch resource {
            case .gitHistory: ingestion.insert(.gitHistory)
            case .gitWorktree: ingestion.insert(.gitWorktree)
            case .buildLogs: ingestion.insert(.buildLogs)
            // Fetched from GitHub's API while extracting, not ingested.
            case .githubAPI: break
            }
        }
        return ResolvedFeatureSelection(
            requested: requested, features: names, resources: resources.map(\.rawValue),
            ingestion: IngestionResource.allCases.filter(ingestion.contains), dagVersion: dagVersion)
    }
}

/// The feature DAG: every feature declared once, in an order where dependencies come first.
public struct FeatureDAG: Sendable {
    /// BuildRisk's catalogue (``FeatureCatalogue``); its declarations are constants checked by the tests.
    public static let standard: FeatureDAG = {
        do { return try FeatureDAG(FeatureCatalogue.features) } catch { preconditionFailure("the feature catalogue is invalid: \(error)") }
    }()

    public let features: [Feature]
    private let index: [String: Int]
    /// A hash of the declarations (and of ``FeatureCatalogue/revision``), stored with every vector.
    public let version: String

    public init(_ declared: [Feature]) throws(FeatureDAGError) {
        var features: [Feature] = []
        var index: [String: Int] = [:]
        for feature in declared {
            var definition = feature.definition
            guard index[definition.name] == nil else { throw .duplicate(definition.name) }
            var resources = Set(definition.inputs.flatMap(\.resources))
            for dependency in definition.dependsOn {
                guard let position = index[dependency] else { throw .undeclaredDependency(feature: definition.name, dependency: dependency) }
                resources.formUnion(features[position].definition.resources)
            }
            definition.resources = resources.sorted()
            index[definition.name] = features.count
            features.append(Feature(definition: definition, compute: feature.compute))
        }
        self.features = features
        self.index = index
        version = Self.hash(features.map(\.definition))
    }

    public var definitions: [FeatureDefinition] { features.map(\.definition) }

    public func definition(_ name: String) -> FeatureDefinition? { index[name].map { features[$0].definition } }

    /// Features by exact name or wildcard (`*` matches any run of characters: `git_*`, `tr_prev_*`, `*`),
    /// with everything they depend on.
    public func select(_ patterns: [String]) throws(FeatureSelectionError) -> FeatureSelection {
        guard !patterns.isEmpty else { throw .empty }
        var requested: [Int] = []
        for pattern in patterns {
            if pattern.contains("*") {
                let matches = features.indices.filter { Self.matches(features[$0].definition.name, pattern) }
                guard !matches.isEmpty else { throw .patternMatchesNothing(pattern) }
                requested += matches
            } else {
                guard let position = index[pattern] else { throw .unknownFeature(pattern) }
                requested.append(position)
            }
        }
        var included = Set<Int>()
        var pending = requested
        while let position = pending.popLast() {
            guard included.insert(position).inserted else { continue }
            pending += features[position].definition.dependsOn.compactMap { index[$0] }
        }
        // Declaration order is an evaluation order: dependencies are declared first.
        let chosen = included.sorted().map { features[$0] }
        return FeatureSelection(
            features: chosen,
            requested: Array(Set(requested)).sorted().map { features[$0].definition.name },
            resources: Set(chosen.flatMap(\.definition.resources)).sorted(),
            dagVersion: version
        )
    }

    static func matches(_ name: String, _ pattern: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, let last = parts.last, name.hasPrefix(first) else { return false }
        var rest = name.dropFirst(first.count)
        for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
            guard let range = rest.range(of: middle) else { return false }
            rest = rest[range.upperBound...]
        }
        return parts.count == 1 ? rest.isEmpty : rest.hasSuffix(last)
    }

    /// FNV-1a (64 bits) over the declarations' canonical JSON: a version, not a secret.
    static func hash(_ definitions: [FeatureDefinition]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(definitions)) ?? Data()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes + Data("revision \(FeatureCatalogue.revision)".utf8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16).leftPadded(to: 16)
    }

    /// The catalogue as `GET /api/v1/features` and `contracts/features.json` give it.
    public func catalogue() -> FeatureCatalogueDocument {
        let coverage = FeatureAnchor.allCases.map { anchor in
            AnchorCoverage(
                anchor: anchor,
                coveredFields: Set(definitions.flatMap(\.sources).filter { $0.anchor == anchor }.map(\.field)).count,
                uncoveredFields: FeatureCatalogue.uncovered.filter { $0.anchor == anchor }.count
            )
        }
        return FeatureCatalogueDocument(dagVersion: version, features: definitions, coverage: coverage, uncovered: FeatureCatalogue.uncovered)
    }
}

/// How many of an anchor's fields the catalogue reproduces, and how many it leaves out (listed in `uncovered`).
public struct AnchorCoverage: Codable, Sendable, Equatable {
    public var anchor: FeatureAnchor
    public var coveredFields: Int
    public var uncoveredFields: Int
}

/// The feature catalogue document.
public struct FeatureCatalogueDocument: Codable, Sendable, Equatable {
    public var dagVersion: String
    public var features: [FeatureDefinition]
    public var coverage: [AnchorCoverage]
    public var uncovered: [UncoveredField]

    /// Pretty-printed with sorted keys and a final newline, as `contracts/features.json` is written.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
