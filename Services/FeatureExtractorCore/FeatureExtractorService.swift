import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRPC
import BuildRiskRuntime
import Foundation

/// The feature-extractor: the feature DAG applied to a pipeline's ingested builds, oldest to
/// newest, one FeatureVector per (build, DAG version).
public enum FeatureExtractorService {
    /// The settings the feature-extractor reads besides the runtime's: GitHub, for the
    /// pull-request features.
    public static let settings = GitHubConfiguration.settings

    /// The service as its executable runs it: GitHub as the configuration says.
    public static let definition = definition { try GitHubConfiguration(environment: $0) }

    /// The service definition, with GitHub reached as `github` says.
    public static func definition(github: GitHubConfiguration) -> ServiceDefinition {
        definition { _ in github }
    }

    static func definition(_ read: @escaping @Sendable ([String: String]) throws -> GitHubConfiguration) -> ServiceDefinition {
        ServiceDefinition(
            service: .featureExtractor, settings: settings, migrations: FeatureVectorPostgresStore.migrations, jobKinds: FeatureProcessor.jobKinds
        ) { environment in
            try assemble(environment, github: read(environment.configuration.environment))
        }
    }

    static func assemble(_ environment: ServiceEnvironment, github: GitHubConfiguration) throws -> ServiceAssembly {
        let store = FeatureVectorPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
        let httpClient = LazyHTTPClient(redirects: .disallow)
        let gitHub = GitHubClient(configuration: github, httpClient: httpClient, logger: environment.logger)
        let pullRequests = PullRequestFetcher(github: gitHub, logger: environment.logger, cache: store)
        let processor = FeatureProcessor(
            store: store, postgres: environment.postgres, queue: environment.queue, directory: environment.directory,
            dataDirectory: environment.configuration.dataDirectory, pullRequests: pullRequests, logger: environment.logger)
        let dag = FeatureDAG.standard
        let catalogue = try dag.catalogue().jsonText()

        var methods = RPCDispatcher()
        methods.register(FeatureMethods.process) { request, _ in
            guard !request.pipelineId.isEmpty, RepositoryName.isValid(request.fullName) else {
                throw RPCError(.invalidInput, "Invalid processing request", reason: "pipelineId must be set and fullName be owner/name")
            }
            do {
                _ = try dag.select(request.selection.isEmpty ? ["*"] : request.selection)
            } catch {
                throw RPCError(.invalidInput, "Invalid feature selection", reason: "\(error)")
            }
            let queued = try await environment.postgres.withTransaction(logger: environment.logger) { connection in
                try await store.upsertPipeline(request, dagVersion: dag.version, on: connection)
                return try await environment.queue.enqueue(
                    FeatureProcessor.processJob, FeatureProcessor.ProcessJob(pipelineId: request.pipelineId),
                    options: JobOptions(priority: 4, maxAttempts: 10, idempotencyKey: "process:\(request.requestId)"), on: connection) != nil
            }
            return ProcessFeaturesAccepted(pipelineId: request.pipelineId, queued: queued, dagVersion: dag.version)
        }
        methods.register(FeatureMethods.vectors) { params, _ in
            guard let page = try await store.vectors(params) else {
                throw RPCError(.notFound, "No such pipeline", reason: "the feature-extractor has no pipeline \(params.pipelineId)")
            }
            return page
        }
        methods.register(FeatureMethods.reprocessFailed) { params, _ in
            guard try await store.pipeline(params.pipelineId, withCheckpoint: false) != nil else {
                throw RPCError(.notFound, "No such pipeline", reason: "the feature-extractor has no pipeline \(params.pipelineId)")
            }
            // The dropped builds sit before the checkpoint, so the job starts over from the oldest (the
            // others come out the same, since no feature looks ahead).
            try await store.dropFailed(pipelineId: params.pipelineId)
            let queued = try await environment.queue.enqueue(
                FeatureProcessor.processJob, FeatureProcessor.ProcessJob(pipelineId: params.pipelineId),
                options: JobOptions(priority: 4, maxAttempts: 10)) != nil
            return ProcessFeaturesAccepted(pipelineId: params.pipelineId, queued: queued, dagVersion: dag.version)
        }
        methods.register(FeatureMethods.catalogue) { _, _ in
            FeatureCatalogueText(json: catalogue)
        }
        methods.register(FeatureMethods.resolve) { params, _ in
            let selection: FeatureSelection
            do {
                selection = try dag.select(params.selection)
            } catch {
                throw RPCError(.invalidInput, "Invalid feature selection", reason: "\(error)")
            }
            return selection.resolved
        }
        methods.register(FeatureMethods.forget) { params, _ in
            FeatureForgetResult(vectorsDeleted: try await store.forget(pipelineId: params.pipelineId))
        }
        methods.register(FeatureMethods.backfillScanMetrics) { params, _ in
            guard !params.pipelineId.isEmpty, CommitID.isValid(params.commitSha) else {
                throw RPCError(.invalidInput, "Invalid back-fill", reason: "pipelineId must be set and commitSha be a 40-digit commit id")
            }
            let prefix = params.tool.rawValue + "_"
            if let stray = params.metrics.keys.first(where: { !$0.hasPrefix(prefix) }) {
                throw RPCError(.invalidInput, "Invalid back-fill", reason: "metric \(stray) of a \(params.tool.rawValue) scan must start with \(prefix)")
            }
            return ScanMetricsBackfillResult(vectorsUpdated: try await store.backfill(params))
        }
        let planned = PlannedBuildFeatures(
            store: store, directory: environment.directory, dataDirectory: environment.configuration.dataDirectory, dag: dag, pullRequests: pullRequests)
        methods.register(FeatureMethods.compute) { params, _ in
            try await planned.compute(params)
        }
        var jobs = JobHandlers()
        jobs.register(FeatureProcessor.processJob, backoff: Backoff(base: .seconds(2), cap: .seconds(120))) { job, _ in
            try await processor.run(job)
        }
        return ServiceAssembly(methods: methods, jobs: jobs, services: [httpClient])
    }
}
