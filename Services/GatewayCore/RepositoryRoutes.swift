import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird

/// `/api/v1/repos`: import repositories (model pipeline, phase 1), follow their progress, list
/// their builds. A user sees only their own repositories; an admin sees all.
struct RepositoryRoutes: Sendable {
    let environment: ServiceEnvironment
    let repositories: RepositoryConfigPostgresStore

    struct ImportRequest: Decodable {
        struct Item: Decodable {
            var fullName: String
            var ciProvider: CIProvider?
            var maxBuilds: Int?
            var sinceDays: Int?
            var syncUntilExisting: Bool?
            var excludeBots: Bool?
            var onlyWithLogs: Bool?
        }
        var repositories: [Item]
    }

    func add(to api: RouterGroup<GatewayRequestContext>) {
        api.post("/repos/import/bulk") { request, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            let body: ImportRequest
            do {
                body = try await request.decode(as: ImportRequest.self, context: context)
            } catch {
                return HTTPHelpers.error(.badRequest, "invalid_body", "expected {\"repositories\": [{\"fullName\": \"owner/name\", \"ciProvider\"?, \"maxBuilds\"?, \"sinceDays\"?, \"syncUntilExisting\"?, \"excludeBots\"?, \"onlyWithLogs\"?}]}: \(error)")
            }
            guard !body.repositories.isEmpty, body.repositories.count <= 500 else {
                return HTTPHelpers.error(.badRequest, "invalid_body", "send 1 to 500 repositories")
            }
            let requests = body.repositories.map { item in
                (item.fullName.trimmingCharacters(in: .whitespaces), ImportOptions(
                    ciProvider: item.ciProvider ?? .githubActions, maxBuilds: item.maxBuilds, sinceDays: item.sinceDays,
                    syncUntilExisting: item.syncUntilExisting ?? false, excludeBots: item.excludeBots ?? false,
                    onlyWithLogs: item.onlyWithLogs ?? false))
            }
            do {
                let configs = try await repositories.create(ownerId: user.id, requests: requests)
                return HTTPHelpers.json(configs, status: .accepted)
            } catch RepositoryConfigError.invalid(let index, let reason) {
                return HTTPHelpers.error(.badRequest, "invalid_repository", "repositories[\(index)]: \(reason)")
            } catch RepositoryConfigError.duplicate(let names) {
                return HTTPHelpers.error(.conflict, "duplicate_repository", "already imported (use sync-run): \(names.sorted().joined(separator: ", "))")
            }
        }
        api.get("/repos") { _, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            return HTTPHelpers.json(try await repositories.list(ownerId: visibility(user)))
        }
        api.get("/repos/search") { request, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            guard let query = request.uri.queryParameters.get("q"), !query.isEmpty else {
                return HTTPHelpers.error(.badRequest, "invalid_query", "search needs ?q=<part of owner/name>")
            }
            return HTTPHelpers.json(try await repositories.list(ownerId: visibility(user), search: query))
        }
        api.get("/repos/{id}") { _, context in
            try await withConfig(context) { HTTPHelpers.json($0) }
        }
        api.get("/repos/{id}/import-progress") { _, context in
            try await withConfig(context) { config in
                HTTPHelpers.json(PipelineProgress(
                    id: config.id, status: config.status, message: config.message,
                    fetch: config.progress ?? ImportProgress(importId: String(config.id), sequence: 0, status: .queued),
                    ingestion: config.ingestion))
            }
        }
        api.get("/repos/{id}/import-builds") { request, context in
            let query = request.uri.queryParameters
            let status = query.get("status")
            if let status, IngestionBuildStatus(rawValue: status) == nil {
                return HTTPHelpers.error(.badRequest, "invalid_status", "status must be one of \(IngestionBuildStatus.contractValues.joined(separator: ", "))")
            }
            let params = { (config: RepositoryConfig) in
                IngestionBuildsParams(
                    pipelineId: String(config.id), limit: min(max(query.get("limit", as: Int.self) ?? 100, 1), 1000),
                    beforeRunId: query.get("before", as: Int64.self), status: status.flatMap(IngestionBuildStatus.init(rawValue:)))
            }
            return try await withConfig(context) { config in
                do {
                    return HTTPHelpers.json(try await environment.directory.client(for: .ingestor).call(IngestionMethods.builds, params(config)))
                } catch {
                    return HTTPHelpers.error(.badGateway, "ingestor_unavailable", "the ingestor could not list the builds: \(error)")
                }
            }
        }
        api.post("/repos/{id}/reingest-failed") { _, context in
            try await withConfig(context) { config in
                do {
                    let accepted = try await environment.directory.client(for: .ingestor).call(
                        IngestionMethods.retryFailed, IngestionPipelineParams(pipelineId: String(config.id)))
                    return HTTPHelpers.json(accepted, status: .accepted)
                } catch RPCClientError.remote(let error) where error.kind == .notFound {
                    return HTTPHelpers.error(.conflict, "not_ingested", "repository \(config.id) has not been handed to the ingestor yet")
                } catch {
                    return HTTPHelpers.error(.badGateway, "ingestor_unavailable", "the ingestor could not queue the retry: \(error)")
                }
            }
        }
        api.post("/repos/{id}/sync-run") { _, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return HTTPHelpers.error(.badRequest, "invalid_id", "repository id must be an integer")
            }
            guard try await repositories.queueSync(configId: id, ownerId: visibility(user)) else {
                return HTTPHelpers.error(.notFound, "not_found", "you have no repository \(id)")
            }
            return HTTPHelpers.json(["id": id], status: .accepted)
        }
        api.delete("/repos/{id}") { _, context in
            guard let user = context.user else { throw HTTPError(.unauthorized) }
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return HTTPHelpers.error(.badRequest, "invalid_id", "repository id must be an integer")
            }
            guard try await repositories.delete(configId: id, ownerId: visibility(user)) else {
                return HTTPHelpers.error(.notFound, "not_found", "you have no repository \(id)")
            }
            // The gateway's row is gone; the source-validator forgets the import and runs through the outbox.
            return HTTPHelpers.json(["id": id], status: .accepted)
        }
        api.get("/repos/{id}/builds") { request, context in
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
            let before = request.uri.queryParameters.get("before", as: Int64.self)
            return try await withConfig(context) { config in
                guard let repository = config.repository else {
                    return HTTPHelpers.error(.conflict, "not_fetched", "repository \(config.id) is \(config.status.rawValue); its builds are not fetched yet")
                }
                do {
                    let page = try await environment.directory.client(for: .sourceValidator).call(
                        WarehouseMethods.listBuilds, ListBuildsParams(githubId: repository.githubId, limit: min(max(limit, 1), 1000), beforeRunId: before))
                    return HTTPHelpers.json(page)
                } catch {
                    return HTTPHelpers.error(.badGateway, "warehouse_unavailable", "the source-validator could not list the builds: \(error)")
                }
            }
        }
    }

    /// A repository's place in the model pipeline: the fetch from GitHub, then the ingestion.
    struct PipelineProgress: Encodable {
        var id: Int64
        var status: RepositoryStatus
        var message: String?
        var fetch: ImportProgress
        var ingestion: IngestionProgress?
    }

    /// nil (everything) for an admin, the user's id otherwise.
    private func visibility(_ user: User) -> Int64? {
        user.role == .admin ? nil : user.id
    }

    private func withConfig(_ context: GatewayRequestContext, _ body: (RepositoryConfig) async throws -> Response) async throws -> Response {
        guard let user = context.user else { throw HTTPError(.unauthorized) }
        guard let id = context.parameters.get("id", as: Int64.self) else {
            return HTTPHelpers.error(.badRequest, "invalid_id", "repository id must be an integer")
        }
        guard let config = try await repositories.get(id: id, ownerId: visibility(user)) else {
            return HTTPHelpers.error(.notFound, "not_found", "you have no repository \(id)")
        }
        return try await body(config)
    }
}
