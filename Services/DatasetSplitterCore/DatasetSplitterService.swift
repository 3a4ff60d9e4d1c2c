import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation

/// The dataset-splitter: a dataset version's quality report, data view, distributions,
/// correlations and exports, read from the feature-extractor over RPC page by page.
public enum DatasetSplitterService {
    /// Rows per data page or export chunk at most.
    public static let maxLimit = 1000
    public static let maxBins = 200

    public static let definition = ServiceDefinition(
        service: .datasetSplitter, migrations: DatasetSplitterPostgresStore.migrations,
        jobKinds: [QualityEvaluator.evaluateJob.erased, DatasetExporter.exportJob.erased]
    ) { environment in
        let store = DatasetSplitterPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
        let catalogue = CatalogueCache(directory: environment.directory)
        let layouts = LayoutResolver(directory: environment.directory, catalogue: catalogue)
        let evaluator = QualityEvaluator(store: store, directory: environment.directory, catalogue: catalogue, queue: environment.queue, logger: environment.logger)
        let exporter = DatasetExporter(
            store: store, directory: environment.directory, layouts: layouts, queue: environment.queue,
            dataDirectory: environment.configuration.dataDirectory, logger: environment.logger)
        let analysis = DatasetAnalysis(directory: environment.directory, layouts: layouts)

        var methods = RPCDispatcher()
        methods.register(DatasetMethods.evaluate) { params, _ in
            try validate(params.spec)
            guard !params.requestId.isEmpty else { throw refuse("requestId must be set") }
            let queued = try await environment.postgres.withTransaction(logger: environment.logger) { connection in
                try await evaluator.enqueue(.init(spec: params.spec, requestId: params.requestId), on: connection)
            }
            return DatasetEvaluateAccepted(versionId: params.spec.versionId, queued: queued)
        }
        methods.register(DatasetMethods.qualityReport) { params, _ in
            guard let answer = try await store.qualityAnswer(versionId: params.versionId) else {
                throw RPCError(.notFound, "No quality report", reason: "version \(params.versionId) has never been evaluated")
            }
            return answer
        }
        methods.register(DatasetMethods.data) { params, _ in
            try validate(params.spec)
            try validate(limit: params.limit)
            if let offset = params.offset, offset < 0 { throw refuse("offset must not be negative") }
            return try await analysis.page(params)
        }
        methods.register(DatasetMethods.distribution) { params, _ in
            try validate(params.spec)
            if let bins = params.bins, !(1...maxBins).contains(bins) { throw refuse("bins must be 1 to \(maxBins), not \(bins)") }
            return try await analysis.distribution(params)
        }
        methods.register(DatasetMethods.correlation) { params, _ in
            try validate(params.spec)
            return try await analysis.correlation(params)
        }
        methods.register(DatasetMethods.exportChunk) { params, _ in
            try validate(params.spec)
            try validate(limit: params.limit)
            return try await exporter.chunk(params)
        }
        methods.register(DatasetMethods.startExport) { params, _ in
            try validate(params.spec)
            guard !params.requestId.isEmpty else { throw refuse("requestId must be set") }
            return try await exporter.start(params)
        }
        methods.register(DatasetMethods.exportJobs) { params, _ in
            DatasetExportJobList(jobs: try await store.exportJobs(versionId: params.versionId))
        }
        methods.register(DatasetMethods.exportJob) { params, _ in
            guard let job = try await store.exportJob(id: params.jobId) else {
                throw RPCError(.notFound, "No such export job", reason: "there is no export job \(params.jobId)")
            }
            return job
        }
        methods.register(DatasetMethods.forget) { params, _ in
            let (reports, exports) = try await store.forget(versionId: params.versionId)
            return DatasetForgetResult(reportsDeleted: reports, exportsDeleted: exports.count, filesDeleted: exporter.removeFiles(exports))
        }

        var jobs = JobHandlers()
        let backoff = Backoff(base: .seconds(2), cap: .seconds(60))
        jobs.register(QualityEvaluator.evaluateJob, backoff: backoff) { job, context in try await evaluator.run(job, context: context) }
        jobs.register(DatasetExporter.exportJob, backoff: backoff) { job, context in try await exporter.run(job, context: context) }
        return ServiceAssembly(methods: methods, jobs: jobs)
    }

    static func refuse(_ reason: String) -> RPCError { RPCError(.invalidInput, "Invalid dataset request", reason: reason) }

    static func validate(limit: Int) throws {
        guard (1...maxLimit).contains(limit) else { throw refuse("limit must be 1 to \(maxLimit), not \(limit)") }
    }

    /// A spec names its version and each pipeline once, and no feature twice or under a build column's name.
    static func validate(_ spec: DatasetVersionSpec) throws {
        guard !spec.versionId.isEmpty else { throw refuse("spec.versionId must be set") }
        guard spec.pipelines.allSatisfy({ !$0.pipelineId.isEmpty }), Set(spec.pipelines.map(\.pipelineId)).count == spec.pipelines.count else {
            throw refuse("each pipeline must have an id and appear once")
        }
        var seen = Set<String>()
        for feature in spec.features {
            guard !feature.isEmpty, seen.insert(feature).inserted else { throw refuse("feature '\(feature)' is empty or named twice") }
            if DatasetLayout.buildColumns.contains(where: { $0.name == feature }) { throw refuse("'\(feature)' is a build column, not a feature") }
        }
        if let bad = spec.scanMetrics.first(where: { !$0.hasPrefix("trivy_") && !$0.hasPrefix("sonar_") && $0 != "*" }) {
            throw refuse("scan metric '\(bad)' must start with trivy_ or sonar_")
        }
    }
}
