import BuildRiskContracts
import BuildRiskLearning
import BuildRiskRuntime
import Foundation

/// A training's rows, split in time order, and what they were.
public struct TrainingData: Sendable {
    public var training: LabeledTable
    public var validation: LabeledTable
    public var test: LabeledTable
    public var summary: TrainingDataSummary
    /// Every extracted build, labelled or not, that the splits' `previous` index: the sequence
    /// model's histories as the predictor serves them. Nil: the splits' own rows are the history.
    public var history: FeatureTable?

    public init(training: LabeledTable, validation: LabeledTable, test: LabeledTable, summary: TrainingDataSummary, history: FeatureTable? = nil) {
        self.training = training
        self.validation = validation
        self.test = test
        self.summary = summary
        self.history = history
    }
}

/// Where a training's data comes from: the one boundary between the trainers and the data, so
/// that the dataset-splitter's splits can plug in beside the feature-extractor's vectors without
/// touching the trainers.
public protocol TrainingDataSource: Sendable {
    func load(_ spec: TrainingDataSpec) async throws -> TrainingData
}

/// Why a training's data could not be made.
public struct TrainingDataError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Which builds count as failed: GitHub's conclusions `failure`, `timed_out` and
/// `startup_failure`; `success` passed. Anything else (cancelled, skipped, neutral, …) says
/// nothing about the change and is left out.
enum BuildLabel {
    static func failed(conclusion: String?) -> Bool? {
        switch conclusion {
        case "failure", "timed_out", "startup_failure": true
        case "success": false
        default: nil
        }
    }
}

/// The processed builds of chosen repositories, read from the feature-extractor over RPC in pages
/// (never through its library), with only pre-build features as inputs, split oldest 70 % for
/// training, the next 15 % for validation and the newest 15 % for test.
public struct FeatureVectorDataSource: TrainingDataSource {
    let directory: ServiceDirectory
    let pageSize = 500

    /// Pre-build features that name or date a build rather than describe it: as inputs they would
    /// let a model learn the time order (ids grow) instead of what makes builds fail.
    static let identifiers: Set<String> = [
        "tr_build_id", "tr_build_number", "tr_prev_build", "git_trigger_commit", "git_prev_built_commit",
        "gh_build_started_at", "gh_first_commit_created_at", "gh_pr_created_at",
    ]
    static let labelFeature = "tr_status"
    static let startedAtFeature = BuildOrderFeatures.startedAt
    static let branchFeature = BuildOrderFeatures.branch
    /// Earlier builds kept per build for the sequence model (it reads the last `length − 1`).
    static let historyDepth = 20

    struct Catalogue: Decodable {
        struct Feature: Decodable {
            var name: String
            var timing: String
            var type: String
        }
        var dagVersion: String
        var features: [Feature]
    }

    /// The inputs the catalogue allows: pre-build, not an identifier, a type a table column holds.
    static func inputs(of catalogue: Catalogue) -> [Catalogue.Feature] {
        catalogue.features.filter {
            $0.timing == "pre" && !identifiers.contains($0.name) && ["integer", "number", "boolean", "string"].contains($0.type)
        }
    }

    struct Row {
        var repository: String
        var runId: Int64
        var startedAt: String
        var failed: Bool
        var features: [String: FeatureValue]
        /// Its row in the history of every extracted build.
        var historyIndex = 0
    }

    /// Sorts `rows` oldest first and answers where training ends (70 %) and validation ends (85 %):
    /// every validation build started after every training build, every test build after both.
    /// ISO 8601 times in UTC sort as text; the run id breaks ties (ids grow with time).
    public static func timeOrderedSplit<Row>(
        _ rows: inout [Row], startedAt: (Row) -> String, runId: (Row) -> Int64
    ) -> (trainingEnd: Int, validationEnd: Int) {
        rows.sort { (startedAt($0), runId($0)) < (startedAt($1), runId($1)) }
        return (rows.count * 70 / 100, rows.count * 85 / 100)
    }

    public func load(_ spec: TrainingDataSpec) async throws -> TrainingData {
        let client = directory.client(for: .featureExtractor)
        let text = try await client.call(FeatureMethods.catalogue, Empty())
        let catalogue = try JSONDecoder().decode(Catalogue.self, from: Data(text.json.utf8))
        let inputs = Self.inputs(of: catalogue)

        var rows: [Row] = []
        // Every extracted build, labelled or not: the builds a build's history is made of, as the
        // predictor serves it (which earlier builds count may not depend on how they ended).
        var extracted: [Row] = []
        var excluded = 0
        var dagVersions = Set<String>()
        for repository in spec.repositories {
            var before: Int64?
            while true {
                let page = try await client.call(
                    FeatureMethods.vectors, FeatureVectorsParams(pipelineId: repository.pipelineId, limit: pageSize, beforeRunId: before))
                for vector in page.vectors {
                    guard vector.status != .failed, vector.status != .pending, let features = vector.features else {
                        excluded += 1
                        continue
                    }
                    let startedAt = features[Self.startedAtFeature]?.string ?? ""
                    // As history its outcome is never read (`failed` stays false).
                    extracted.append(Row(repository: repository.fullName, runId: vector.runId, startedAt: startedAt, failed: false, features: features))
                    guard let failed = BuildLabel.failed(conclusion: features[Self.labelFeature]?.string) else {
                        excluded += 1
                        continue
                    }
                    dagVersions.insert(vector.dagVersion)
                    rows.append(Row(
                        repository: repository.fullName, runId: vector.runId, startedAt: startedAt, failed: failed, features: features,
                        historyIndex: extracted.count - 1))
                }
                guard page.vectors.count == pageSize, let oldest = page.vectors.map(\.runId).min() else { break }
                before = oldest
            }
        }
        guard rows.count >= 20 else {
            throw TrainingDataError("the repositories have \(rows.count) labelled processed builds; a training needs at least 20")
        }
        let (trainingEnd, validationEnd) = Self.timeOrderedSplit(&rows, startedAt: \.startedAt, runId: \.runId)

        func branch(_ row: Row) -> String { "\(row.repository)#\(row.features[Self.branchFeature]?.string ?? "")" }
        let earlier = BranchHistory.previous(
            branches: extracted.map(branch), startedAt: extracted.map(\.startedAt), runIds: extracted.map(\.runId), limit: Self.historyDepth)

        func features(_ slice: some Collection<Row>) throws -> FeatureTable {
            let columns: [FeatureTable.Column] = inputs.map { feature in
                if feature.type == "string" {
                    return .categorical(name: feature.name, values: slice.map { $0.features[feature.name]?.string })
                }
                return .numeric(name: feature.name, values: slice.map { row in
                    switch row.features[feature.name] {
                    case .integer(let value)?: Double(value)
                    case .number(let value)?: value
                    case .boolean(let value)?: value ? 1 : 0
                    default: .nan
                    }
                })
            }
            return try FeatureTable(rowCount: slice.count, columns: columns)
        }
        func table(_ slice: ArraySlice<Row>) throws -> LabeledTable {
            try LabeledTable(
                table: features(slice), failed: slice.map(\.failed), branches: slice.map(branch), repositories: slice.map(\.repository),
                previous: slice.map { earlier[$0.historyIndex] })
        }
        let summary = TrainingDataSummary(
            repositories: spec.repositories.map(\.fullName), from: rows.first?.startedAt, to: rows.last?.startedAt,
            buildCount: rows.count, trainingCount: trainingEnd, validationCount: validationEnd - trainingEnd,
            testCount: rows.count - validationEnd, excludedCount: excluded,
            dagVersion: dagVersions.count == 1 ? dagVersions.first : catalogue.dagVersion, features: inputs.map(\.name))
        return TrainingData(
            training: try table(rows[..<trainingEnd]), validation: try table(rows[trainingEnd..<validationEnd]),
            test: try table(rows[validationEnd...]), summary: summary, history: try features(extracted))
    }
}
