import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation

/// One build of a version as read from the feature-extractor.
struct VersionRow: Sendable {
    var repository: String
    var vector: FeatureVectorRecord
    /// The build's current prediction, when the spec asks for predictions and the predictor has one.
    var prediction: PredictionRecord?

    /// The build's label: `build_successful`, when present.
    var passed: Bool? { vector.features?["build_successful"]?.bool }
}

/// Where a walk through a version stands: the pipeline (in the spec's order) and the run id the
/// next page starts below (the feature-extractor pages newest run first).
struct VersionPosition: Codable, Sendable, Equatable {
    var pipeline: Int
    var before: Int64?

    static let start = VersionPosition(pipeline: 0, before: nil)
}

/// Reads a version's builds from the feature-extractor, page by page, in the version's order:
/// pipelines in the spec's order, each newest run first. Nothing beyond one page is held.
struct VersionReader: Sendable {
    let directory: ServiceDirectory
    let spec: DatasetVersionSpec
    /// Vectors asked for per call when a caller walks the whole version.
    static let pageSize = 500

    /// Hands `body` the rows from `position` on, at most `limit` (all when nil), a page at a time.
    /// Returns where the next read starts, nil once the version is exhausted. The next page is asked
    /// for while `body` handles the current one (the feature-extractor's work overlaps the caller's),
    /// so at most two pages are held.
    @discardableResult
    func read(from position: VersionPosition = .start, limit: Int? = nil, pageSize: Int = pageSize, _ body: ([VersionRow]) async throws -> Void) async throws -> VersionPosition? {
        var remaining = limit
        /// The page to ask for from `position` with `remaining` rows left; nil when there is none.
        func plan(_ position: VersionPosition) -> (position: VersionPosition, ask: Int)? {
            guard position.pipeline < spec.pipelines.count else { return nil }
            if let remaining, remaining <= 0 { return nil }
            return (position, min(pageSize, remaining ?? pageSize))
        }
        guard var request = plan(position) else { return position.pipeline < spec.pipelines.count ? position : nil }
        var rows = try await fetch(request.position, limit: request.ask)
        while true {
            try Task.checkCancellation()
            var after = request.position
            if let last = rows.last {
                after.before = last.vector.runId
                remaining = remaining.map { $0 - rows.count }
            }
            if rows.count < request.ask { after = VersionPosition(pipeline: after.pipeline + 1, before: nil) }
            guard let next = plan(after) else {
                if !rows.isEmpty { try await body(rows) }
                return after.pipeline < spec.pipelines.count ? after : nil
            }
            async let upcoming = fetch(next.position, limit: next.ask)
            if !rows.isEmpty { try await body(rows) }
            rows = try await upcoming
            request = next
        }
    }

    private func fetch(_ position: VersionPosition, limit: Int) async throws -> [VersionRow] {
        let reference = spec.pipelines[position.pipeline]
        let vectors = try await page(reference.pipelineId, limit: limit, before: position.before, withFeatures: true)?.vectors ?? []
        var predictions: [Int64: PredictionRecord] = [:]
        if spec.withPredictions == true, !vectors.isEmpty {
            predictions = try await self.predictions(reference.pipelineId, runIds: vectors.map(\.runId))
        }
        return vectors.map { VersionRow(repository: reference.fullName, vector: $0, prediction: predictions[$0.runId]) }
    }

    /// The current predictions of a page's builds; none when the predictor has no such pipeline (never predicted).
    private func predictions(_ pipelineId: String, runIds: [Int64]) async throws -> [Int64: PredictionRecord] {
        do {
            let page = try await directory.client(for: .predictor).call(
                PredictionMethods.list, PredictionListParams(pipelineId: pipelineId, limit: runIds.count, runIds: runIds))
            return Dictionary(page.predictions.map { ($0.runId, $0) }, uniquingKeysWith: { first, _ in first })
        } catch {
            guard case .remote(let remote) = error, remote.kind == .notFound else { throw error }
            return [:]
        }
    }

    /// The version's builds (every extraction status) and the pipelines the feature-extractor does not know.
    func count() async throws -> (builds: Int, unknownPipelines: [String]) {
        var builds = 0
        var unknown: [String] = []
        for reference in spec.pipelines {
            if let page = try await page(reference.pipelineId, limit: 1, before: nil, withFeatures: false) {
                builds += page.counts.total
            } else {
                unknown.append(reference.pipelineId)
            }
        }
        return (builds, unknown)
    }

    /// One page of a pipeline's vectors; nil when the feature-extractor has no such pipeline (not processed yet).
    private func page(_ pipelineId: String, limit: Int, before: Int64?, withFeatures: Bool) async throws -> FeatureVectorPage? {
        do {
            return try await directory.client(for: .featureExtractor).call(
                FeatureMethods.vectors, FeatureVectorsParams(pipelineId: pipelineId, limit: limit, beforeRunId: before, withFeatures: withFeatures))
        } catch {
            guard case .remote(let remote) = error, remote.kind == .notFound else { throw error }
            return nil
        }
    }
}
