import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// The quality evaluation of a version: one pass over its builds, page by page, with per-feature
/// counters in memory and one row per build in `quality_rows` (duplicates and the worst builds are
/// found by SQL over them), then the report, which replaces the version's latest.
struct QualityEvaluator: Sendable {
    let store: DatasetSplitterPostgresStore
    let directory: ServiceDirectory
    let catalogue: CatalogueCache
    let queue: JobQueue
    let logger: Logger

    struct EvaluateJob: Codable, Sendable {
        var spec: DatasetVersionSpec
        var requestId: String
    }

    static let evaluateJob = JobKind<EvaluateJob>("datasets.evaluate")
    static let worstShown = 20
    /// The score's weights (DESIGN.md, "Dataset quality").
    static let weights = (completeness: 0.35, validity: 0.25, consistency: 0.15, uniqueness: 0.15, balance: 0.10)

    /// Queues the evaluation and marks the version's report pending, once per request.
    func enqueue(_ job: EvaluateJob, on connection: PostgresConnection) async throws -> Bool {
        let id = try await queue.enqueue(
            Self.evaluateJob, job,
            options: JobOptions(priority: 2, maxAttempts: 5, idempotencyKey: "evaluate:\(job.spec.versionId):\(job.requestId)"), on: connection)
        guard id != nil else { return false }
        try await store.requestEvaluation(versionId: job.spec.versionId, requestId: job.requestId, on: connection)
        return true
    }

    func run(_ job: EvaluateJob, context: JobContext) async throws {
        let versionId = job.spec.versionId
        // A newer request (or a forget) replaced this one: its own job reports.
        guard try await store.setEvaluationStatus(versionId: versionId, requestId: job.requestId, .running) else { return }
        do {
            let report = try await evaluate(job.spec, evaluation: context.job.id)
            try await store.completeEvaluation(versionId: versionId, requestId: job.requestId, report: report, evaluation: context.job.id)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            try? await store.clearRows(evaluation: context.job.id)
            if context.job.attempt >= context.job.maxAttempts || isPermanent(error) {
                _ = try? await store.setEvaluationStatus(versionId: versionId, requestId: job.requestId, .failed, error: "\(error)")
                throw JobError.permanent("\(error)")
            }
            _ = try? await store.setEvaluationStatus(versionId: versionId, requestId: job.requestId, .pending, error: "attempt \(context.job.attempt) failed, retrying: \(error)")
            throw error
        }
    }

    private func isPermanent(_ error: any Error) -> Bool {
        if let error = error as? RPCClientError { return !error.isRetryable }
        return false
    }

    /// Per feature (and scan metric) while the pass runs.
    struct FeatureCounter {
        var declaredType: DatasetColumnType?
        var present = 0
        var invalid = 0
        var reasons: [String: Int] = [:]
    }

    func evaluate(_ spec: DatasetVersionSpec, evaluation: Int64) async throws -> DatasetQualityReport {
        try await store.clearRows(evaluation: evaluation)
        let facts = try await catalogue.facts(for: spec.features)
        var counters: [String: FeatureCounter] = [:]
        for feature in spec.features { counters[feature] = FeatureCounter(declaredType: facts.type(of: feature)) }
        let explicitMetrics = spec.scanMetrics.filter { !$0.contains("*") }
        for metric in explicitMetrics { counters[metric] = FeatureCounter(declaredType: .number) }
        let compared = spec.features.filter { !facts.isIdentifier($0) }
        var builds = 0
        var statuses: [String: Int] = [:]
        var issues: [String: (builds: Int, examples: [String])] = [:]
        var buildsWithIssues = 0
        var passed = 0, failed = 0, unlabelled = 0

        let reader = VersionReader(directory: directory, spec: spec)
        try await reader.read { rows in
            var stored: [DatasetSplitterPostgresStore.BuildRow] = []
            stored.reserveCapacity(rows.count)
            for row in rows {
                builds += 1
                let vector = row.vector
                statuses[vector.status.rawValue, default: 0] += 1
                switch row.passed {
                case true?: passed += 1
                case false?: failed += 1
                case nil: unlabelled += 1
                }
                var nulls = 0
                var invalid = 0
                var reasons: [String] = []
                for feature in spec.features {
                    let value = vector.features?[feature] ?? .null
                    if case .null = value {
                        nulls += 1
                        continue
                    }
                    counters[feature]?.present += 1
                    if let problem = Self.problem(with: value, feature: feature, declared: counters[feature]?.declaredType) {
                        counters[feature]?.invalid += 1
                        counters[feature]?.reasons[problem, default: 0] += 1
                        invalid += 1
                        reasons.append("\(feature): \(problem)")
                    }
                }
                for (metric, value) in vector.scanMetrics ?? [:] where DatasetLayout.selects(spec.scanMetrics, metric) {
                    var counter = counters[metric] ?? FeatureCounter(declaredType: .number)
                    counter.present += 1
                    if let problem = Self.problem(with: .number(value), feature: metric, declared: .number) {
                        counter.invalid += 1
                        counter.reasons[problem, default: 0] += 1
                        invalid += 1
                        reasons.append("\(metric): \(problem)")
                    }
                    counters[metric] = counter
                }
                for metric in explicitMetrics where vector.scanMetrics?[metric] == nil { nulls += 1 }
                let inconsistencies = Self.inconsistencies(of: vector, selected: spec.features)
                if !inconsistencies.isEmpty { buildsWithIssues += 1 }
                for issue in inconsistencies {
                    var entry = issues[issue] ?? (0, [])
                    entry.builds += 1
                    if entry.examples.count < 10 { entry.examples.append("\(row.repository)#\(vector.runId)") }
                    issues[issue] = entry
                }
                switch vector.status {
                case .failed: reasons.insert("extraction failed: \(vector.error ?? "no reason given")", at: 0)
                case .pending, .inProgress: reasons.insert("not extracted yet (\(vector.status.rawValue))", at: 0)
                case .partial: reasons.insert("partial: missing \(vector.missingResources.joined(separator: ", "))", at: 0)
                case .completed: break
                }
                if nulls > 0 { reasons.append("\(nulls) of \(spec.features.count + explicitMetrics.count) columns null") }
                reasons += inconsistencies
                stored.append(DatasetSplitterPostgresStore.BuildRow(
                    repository: row.repository, runId: vector.runId, rowHash: Self.rowHash(vector, compared: compared),
                    penalty: nulls + 2 * invalid + 5 * inconsistencies.count, reasons: reasons))
            }
            try await store.insertRows(stored, evaluation: evaluation)
        }
        let (_, unknownPipelines) = try await reader.count()
        let duplicates = try await store.duplicates(evaluation: evaluation)
        let worstBuilds = try await store.worstBuilds(evaluation: evaluation, limit: Self.worstShown)

        let features = counters.keys.sorted { a, b in
            let ia = spec.features.firstIndex(of: a) ?? Int.max, ib = spec.features.firstIndex(of: b) ?? Int.max
            return ia != ib ? ia < ib : a < b
        }.map { name -> DatasetFeatureQuality in
            let counter = counters[name] ?? FeatureCounter()
            return DatasetFeatureQuality(
                feature: name, declaredType: counter.declaredType?.rawValue, present: counter.present,
                completeness: builds > 0 ? Double(counter.present) / Double(builds) : 0, invalid: counter.invalid, invalidReasons: counter.reasons)
        }
        let worstFeatures = features.compactMap { quality -> DatasetFeatureIssue? in
            guard builds > 0 else { return nil }
            let missing = builds - quality.present
            let impact = Double(missing + quality.invalid) / Double(builds)
            guard impact > 0 else { return nil }
            var parts: [String] = []
            if missing > 0 { parts.append("missing in \(missing) of \(builds) builds (\(Self.percent(Double(missing) / Double(builds))))") }
            if quality.invalid > 0 {
                parts.append("\(quality.invalid) invalid (" + quality.invalidReasons.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")")
            }
            return DatasetFeatureIssue(feature: quality.feature, impact: impact, reason: parts.joined(separator: "; "))
        }.sorted { $0.impact != $1.impact ? $0.impact > $1.impact : $0.feature < $1.feature }.prefix(Self.worstShown)

        let present = features.reduce(0) { $0 + $1.present }
        let invalid = features.reduce(0) { $0 + $1.invalid }
        let labelled = passed + failed
        let components = DatasetQualityComponents(
            completeness: features.isEmpty || builds == 0 ? (builds == 0 ? 0 : 1) : features.reduce(0) { $0 + $1.completeness } / Double(features.count),
            validity: present == 0 ? 1 : 1 - Double(invalid) / Double(present),
            consistency: builds == 0 ? 0 : 1 - Double(buildsWithIssues) / Double(builds),
            uniqueness: builds == 0 ? 0 : max(0, 1 - Double(duplicates.extraRowsByRunId + duplicates.extraIdenticalRows) / Double(builds)),
            balance: labelled == 0 ? 0 : 2 * Double(min(passed, failed)) / Double(labelled))
        let w = Self.weights
        let score = builds == 0 ? nil : ((100 * (w.completeness * components.completeness + w.validity * components.validity
            + w.consistency * components.consistency + w.uniqueness * components.uniqueness + w.balance * components.balance)) * 10).rounded() / 10

        return DatasetQualityReport(
            versionId: spec.versionId, evaluatedAt: Date().formatted(.iso8601), builds: builds, statuses: statuses, score: score, components: components,
            features: features,
            consistency: issues.sorted { $0.value.builds != $1.value.builds ? $0.value.builds > $1.value.builds : $0.key < $1.key }
                .map { DatasetConsistencyIssue(issue: $0.key, builds: $0.value.builds, examples: $0.value.examples) },
            duplicates: DatasetDuplicates(
                duplicateRunIds: duplicates.duplicateRunIds, extraRowsByRunId: duplicates.extraRowsByRunId, identicalRowGroups: duplicates.identicalGroups,
                extraIdenticalRows: duplicates.extraIdenticalRows, comparedFeatures: compared),
            classBalance: DatasetClassBalance(passed: passed, failed: failed, unlabelled: unlabelled, failureRate: labelled == 0 ? nil : Double(failed) / Double(labelled)),
            worstBuilds: worstBuilds, worstFeatures: Array(worstFeatures), pipelinesWithoutVectors: unknownPipelines)
    }

    static func percent(_ share: Double) -> String { String(format: "%.1f %%", share * 100) }

    static func problem(with value: FeatureValue, feature: String, declared: DatasetColumnType?) -> String? {
        ValueValidity.problem(with: value, feature: feature, declared: declared)
    }

    /// What contradicts itself in one build's record.
    static func inconsistencies(of vector: FeatureVectorRecord, selected: [String]) -> [String] {
        var found: [String] = []
        switch vector.status {
        case .completed:
            if !vector.missingResources.isEmpty { found.append("completed with missing resources") }
            if !vector.skippedFeatures.isEmpty { found.append("completed with skipped features") }
            if let features = vector.features {
                let skipped = Set(vector.skippedFeatures)
                if selected.contains(where: { features[$0] == nil && !skipped.contains($0) }) {
                    found.append("completed without some selected features")
                }
            }
        case .partial:
            if vector.missingResources.isEmpty && vector.skippedFeatures.isEmpty { found.append("partial without a missing resource or skipped feature") }
        case .failed:
            if (vector.error ?? "").isEmpty { found.append("failed without a reason") }
        case .pending, .inProgress:
            break
        }
        if let label = vector.features?["build_successful"]?.bool, let status = vector.features?["tr_status"]?.string, label != (status == "success") {
            found.append("build_successful disagrees with tr_status")
        }
        return found
    }

    /// FNV-1a over the compared features' values in spec order; nil when none has a value (an
    /// unextracted build is not a duplicate of another).
    static func rowHash(_ vector: FeatureVectorRecord, compared: [String]) -> Int64? {
        guard let features = vector.features else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var any = false
        func mix(_ text: String) {
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            hash ^= 0x1F
            hash = hash &* 0x100_0000_01b3
        }
        for feature in compared {
            let value = features[feature] ?? .null
            if case .null = value {
                mix("\u{0}")
            } else {
                any = true
                var text = ""
                ExportFormat.json(value, into: &text)
                mix(text)
            }
        }
        return any ? Int64(bitPattern: hash) : nil
    }
}

/// The validity rule of the quality report, one value at a time.
public enum ValueValidity {
    /// Why a present value is invalid for its declared type, nil when it is valid. Every numeric
    /// feature of the catalogue is a count, a duration, a size, an id or a ratio, so none may be
    /// negative; ratios and likelihoods lie in 0…1; NaN and infinities are never valid.
    public static func problem(with value: FeatureValue, feature: String, declared: DatasetColumnType?) -> String? {
        guard let declared else { return nil }
        switch (declared, value) {
        case (.integer, .integer(let number)):
            return number < 0 ? "negative value" : nil
        case (.integer, .number(let number)) where number.isFinite && number == number.rounded():
            return number < 0 ? "negative value" : nil
        case (.number, .integer(let number)):
            return number < 0 ? "negative value" : nil
        case (.number, .number(let number)):
            if !number.isFinite { return "not a finite number" }
            if number < 0 { return "negative value" }
            // By whole name parts: `gh_step_duration_max` holds "ratio" inside "duration" and is not one.
            let parts = feature.split(separator: "_")
            if (parts.contains("ratio") || parts.contains("likelihood")) && number > 1 { return "ratio above 1" }
            return nil
        case (.boolean, .boolean), (.string, .string), (.stringList, .stringList):
            return nil
        default:
            return "not of type \(declared.rawValue)"
        }
    }
}
