import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

/// The source-validator: the build warehouse and the imports that fill it.
public enum SourceValidatorService {
    public static let importJobKind = "warehouse.import"

    /// The service definition, with GitHub reached as `github` says.
    public static func definition(github: GitHubConfiguration) -> ServiceDefinition {
        ServiceDefinition(service: .sourceValidator, migrations: WarehousePostgresStore.migrations) { environment in
            let store = WarehousePostgresStore(client: environment.postgres, schema: environment.schema, logger: environment.logger)
            var httpConfiguration = HTTPClient.Configuration()
            httpConfiguration.timeout = .init(connect: .seconds(10), read: .seconds(60))
            httpConfiguration.redirectConfiguration = .follow(max: 5, allowCycles: false)
            let httpClient = LazyHTTPClient(configuration: httpConfiguration)
            let importer = RepositoryImporter(
                github: GitHubClient(configuration: github, httpClient: httpClient, logger: environment.logger),
                store: store, queue: environment.queue, postgres: environment.postgres, logger: environment.logger)

            var methods = RPCDispatcher()
            methods.register(WarehouseMethods.importRepository) { params, _ in
                let parts = params.fullName.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else {
                    throw RPCError(.invalidInput, "Invalid repository name", reason: "'\(params.fullName)' is not owner/name")
                }
                guard params.options.ciProvider == .githubActions else {
                    throw RPCError(.invalidInput, "Unsupported CI provider", reason: "\(params.options.ciProvider.rawValue) imports are not available yet; github_actions is")
                }
                try await store.ensureImport(id: params.importId, fullName: params.fullName)
                let job = try await environment.queue.enqueue(
                    importJobKind, payload: params,
                    options: JobOptions(priority: 5, maxAttempts: 5, idempotencyKey: "import:\(params.requestId)"))
                return ImportAccepted(importId: params.importId, queued: job != nil)
            }
            methods.register(WarehouseMethods.listBuilds) { params, _ in
                try await store.builds(params)
            }
            methods.register(WarehouseMethods.forgetRepository) { params, _ in
                try await store.forget(params)
            }
            return ServiceAssembly(
                methods: methods,
                jobHandlers: [importJobKind: JobHandler(backoff: Backoff(base: .seconds(2), cap: .seconds(120))) { job, _ in
                    try await importer.run(try job.decodePayload(ImportRepositoryParams.self))
                }],
                services: [HTTPClientShutdown(client: httpClient)])
        }
    }
}

/// Shuts an HTTP client down when the service stops.
struct HTTPClientShutdown: Service {
    let client: LazyHTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
