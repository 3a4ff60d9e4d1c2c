import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskGit
import BuildRiskGitHub
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import ServiceLifecycle

/// The ingestor: clones, fork commits, worktrees and build logs, with a status per resource.
public enum IngestorService {
    /// The settings the ingestor reads besides the runtime's.
    public static let settings = GitHubConfiguration.settings + IngestorConfiguration.settings

    /// The service as its executable runs it: GitHub and the ingestor's settings read from the configuration.
    public static var definition: ServiceDefinition {
        definition { environment in
            (try GitHubConfiguration(environment: environment), try IngestorConfiguration(environment: environment))
        }
    }

    /// The service definition, with GitHub reached as `github` says.
    public static func definition(github: GitHubConfiguration, configuration: IngestorConfiguration) -> ServiceDefinition {
        definition { _ in (github, configuration) }
    }

    static func definition(
        _ read: @escaping @Sendable ([String: String]) throws -> (GitHubConfiguration, IngestorConfiguration)
    ) -> ServiceDefinition {
        ServiceDefinition(service: .ingestor, settings: settings, migrations: IngestionPostgresStore.migrations, jobKinds: IngestionPostgresStore.Jobs.all) { environment in
            let (github, configuration) = try read(environment.configuration.environment)
            // Before any job runs: libgit2's trust store is one per process. A file that is not a
            // bundle libgit2 can load stops the ingestor at start rather than failing every clone.
            if let caFile = configuration.gitCAFile { try GitRepository.trustCertificates(inFile: caFile) }
            let store = IngestionPostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
            // Run logs answer 302 to a signed URL that must be fetched without the API token, so
            // the API client does not follow redirects and downloads go through a client without it.
            // The download client's idle-read timeout is the stall bound (no byte for that long).
            let apiClient = LazyHTTPClient(redirects: .disallow)
            let downloadClient = LazyHTTPClient(read: configuration.logStallTimeout, redirects: .follow(max: 3, allowCycles: false))
            let gitHub = GitHubClient(configuration: github, httpClient: apiClient, logger: environment.logger)
            let dataDirectory = environment.configuration.dataDirectory
            let ingestor = Ingestor(
                store: store,
                clones: RepositoryClones(postgres: environment.postgres, dataDirectory: dataDirectory, timeout: configuration.cloneTimeout, logger: environment.logger),
                github: gitHub,
                logs: BuildLogDownloader(github: gitHub, downloads: downloadClient, dataDirectory: dataDirectory, configuration: configuration, logger: environment.logger),
                queue: environment.queue, postgres: environment.postgres, configuration: configuration,
                worktreeDirectory: URL(fileURLWithPath: dataDirectory).appendingPathComponent("worktrees").standardizedFileURL.path,
                logger: environment.logger)

            var methods = RPCDispatcher()
            methods.register(IngestionMethods.start) { request, _ in
                guard !request.pipelineId.isEmpty, RepositoryName.isValid(request.fullName) else {
                    throw RPCError(.invalidInput, "Invalid ingestion request", reason: "pipelineId must be set and fullName be owner/name")
                }
                guard !request.resources.isEmpty else {
                    throw RPCError(.invalidInput, "Invalid ingestion request", reason: "name at least one resource (git_history, git_worktree, build_logs)")
                }
                if let bad = request.builds.first(where: { !CommitID.isValid($0.headSha) }) {
                    throw RPCError(.invalidInput, "Invalid ingestion request", reason: "run \(bad.runId): headSha '\(bad.headSha)' is not a 40-digit commit id")
                }
                let queued = try await store.start(request, queue: environment.queue)
                return IngestionAccepted(pipelineId: request.pipelineId, queued: queued)
            }
            methods.register(IngestionMethods.builds) { params, _ in
                try await store.builds(params)
            }
            methods.register(IngestionMethods.retryFailed) { params, _ in
                guard try await store.pipeline(params.pipelineId) != nil else {
                    throw RPCError(.notFound, "No such pipeline", reason: "the ingestor has no pipeline \(params.pipelineId)")
                }
                return try await ingestor.retryFailed(params.pipelineId)
            }
            methods.register(IngestionMethods.releaseWorktrees) { params, _ in
                // The worktrees stay as a cache until a new one needs their room (ensureWorktree):
                // removing hundreds at once outlasted the caller's deadline under load.
                IngestionForgetResult(buildsDeleted: try await store.releaseWorktrees(pipelineId: params.pipelineId))
            }
            methods.register(IngestionMethods.forget) { params, _ in
                IngestionForgetResult(buildsDeleted: try await ingestor.forget(pipelineId: params.pipelineId))
            }
            methods.register(IngestionMethods.logFacts) { params, _ in
                guard params.runIds.count <= 500 else {
                    throw RPCError(.invalidInput, "Too many runs", reason: "ask for at most 500 runs a call, not \(params.runIds.count)")
                }
                return try await store.logFacts(githubId: params.githubId, runIds: params.runIds)
            }
            methods.register(IngestionMethods.checkoutCommit) { params, _ in
                guard CommitID.isValid(params.commitSha), !params.holder.isEmpty else {
                    throw RPCError(.invalidInput, "Invalid checkout", reason: "commitSha must be a 40-digit commit id and holder be set")
                }
                // Assigned in `do` and returned after it: swiftc 6.3 crashes on a `return try await` in a do/catch here.
                let checkout: CommitCheckout
                do {
                    checkout = try await ingestor.checkout(params)
                } catch let failure as Ingestor.CheckoutFailure {
                    throw failure.refusal
                } catch let budget as Ingestor.BudgetExceeded {
                    throw RPCError(.unavailable, "No room for a worktree", reason: budget.description, retryable: true)
                }
                return checkout
            }
            methods.register(IngestionMethods.fetchCommit) { params, _ in
                guard CommitID.isValid(params.commitSha), RepositoryName.isValid(params.fullName) else {
                    throw RPCError(.invalidInput, "Invalid fetch", reason: "commitSha must be a 40-digit commit id and fullName be owner/name")
                }
                let result: CommitFetchResult
                do {
                    result = try await ingestor.fetchCommit(params)
                } catch let failure as Ingestor.CheckoutFailure {
                    throw failure.refusal
                }
                return result
            }
            methods.register(IngestionMethods.releaseCommit) { params, _ in
                try await ingestor.release(params)
                return Empty()
            }
            let backoff = Backoff(base: .seconds(2), cap: .seconds(120))
            var jobs = JobHandlers()
            jobs.register(IngestionPostgresStore.Jobs.repository, backoff: backoff) { job, _ in try await ingestor.runRepository(job) }
            jobs.register(IngestionPostgresStore.Jobs.logs, backoff: backoff) { job, _ in try await ingestor.runLogs(job) }
            jobs.register(IngestionPostgresStore.Jobs.worktrees, backoff: backoff) { job, _ in try await ingestor.runWorktrees(job) }
            return ServiceAssembly(
                methods: methods,
                jobs: jobs,
                services: [apiClient, downloadClient])
        }
    }
}
