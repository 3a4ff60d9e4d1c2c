import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

/// The source-validator: the build warehouse and the imports that fill it.
public enum SourceValidatorService {
    /// Imports a repository's runs from GitHub into the warehouse.
    public static let importJob = JobKind<ImportRepositoryParams>("warehouse.import")
    static let jobKinds = [importJob.erased, BuildSourcePostgresStore.validateJob.erased]

    /// The service as its executable runs it: GitHub read from the configuration.
    public static var definition: ServiceDefinition {
        definition { environment in try GitHubConfiguration(environment: environment) }
    }

    /// The service definition, with GitHub reached as `github` says.
    public static func definition(github: GitHubConfiguration) -> ServiceDefinition {
        definition { _ in github }
    }

    static func definition(_ readGitHub: @escaping @Sendable ([String: String]) throws -> GitHubConfiguration) -> ServiceDefinition {
        ServiceDefinition(
            service: .sourceValidator, settings: GitHubConfiguration.settings,
            migrations: WarehousePostgresStore.migrations + BuildSourcePostgresStore.migrations, jobKinds: jobKinds
        ) { environment in
            let github = try readGitHub(environment.configuration.environment)
            let store = WarehousePostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
            let httpClient = LazyHTTPClient(redirects: .follow(max: 5, allowCycles: false))
            let noRedirectClient = LazyHTTPClient(redirects: .disallow)
            let importer = RepositoryImporter(
                github: GitHubClient(configuration: github, httpClient: httpClient, logger: environment.logger),
                githubNoRedirects: GitHubClient(configuration: github, httpClient: noRedirectClient, logger: environment.logger),
                store: store, queue: environment.queue, postgres: environment.postgres, logger: environment.logger)

            let sources = BuildSourcePostgresStore(client: environment.postgres, schema: environment.schema, queue: environment.queue, logger: environment.logger)
            let validator = BuildSourceValidator(importer: importer, sources: sources)
            let dataDirectory = URL(fileURLWithPath: environment.configuration.dataDirectory).standardizedFileURL.path

            var methods = RPCDispatcher()
            methods.register(BuildSourceMethods.create) { params, _ in
                // Only files in the shared data directory (the gateway puts uploads there).
                let path = URL(fileURLWithPath: params.path).standardizedFileURL.path
                guard path.hasPrefix(dataDirectory + "/"), FileManager.default.isReadableFile(atPath: path) else {
                    throw RPCError(.invalidInput, "Unreadable upload", reason: "\(params.path) is not a readable file under the data directory")
                }
                return try await sources.create(params)
            }
            methods.register(BuildSourceMethods.status) { params, _ in
                try await sources.status(params.sourceId)
            }
            methods.register(BuildSourceMethods.rows) { params, _ in
                try await sources.rows(params)
            }
            methods.register(BuildSourceMethods.foundBuilds) { params, _ in
                try await sources.foundBuilds(params)
            }
            methods.register(BuildSourceMethods.delete) { params, _ in
                try await sources.delete(params.sourceId)
                return Empty()
            }
            methods.register(WarehouseMethods.importRepository) { params, _ in
                guard RepositoryName.isValid(params.fullName) else {
                    throw RPCError(.invalidInput, "Invalid repository name", reason: "'\(params.fullName)' is not owner/name")
                }
                if let refusal = params.options.ciProvider.importRefusal {
                    throw RPCError(.invalidInput, "Unsupported CI provider", reason: refusal)
                }
                try await store.ensureImport(id: params.importId, fullName: params.fullName)
                let job = try await environment.queue.enqueue(
                    importJob, params,
                    options: JobOptions(priority: 5, maxAttempts: 5, idempotencyKey: "import:\(params.requestId)"))
                return ImportAccepted(importId: params.importId, queued: job != nil)
            }
            methods.register(WarehouseMethods.listBuilds) { params, _ in
                try await store.builds(params)
            }
            methods.register(WarehouseMethods.forgetRepository) { params, _ in
                try await store.forget(params)
            }
            var jobs = JobHandlers()
            jobs.register(importJob, backoff: Backoff(base: .seconds(2), cap: .seconds(120))) { params, _ in try await importer.run(params) }
            jobs.register(BuildSourcePostgresStore.validateJob, backoff: Backoff(base: .seconds(2), cap: .seconds(120))) { repository, _ in
                try await validator.validate(repository)
            }
            return ServiceAssembly(
                methods: methods,
                jobs: jobs,
                services: [httpClient, noRedirectClient])
        }
    }
}
