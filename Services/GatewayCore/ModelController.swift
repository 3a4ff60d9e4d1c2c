import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Hummingbird

/// `/api/v1/models`: the model registry. Everyone reads it; changing what is active, aliases and
/// deletions change every user's predictions, so they are for admins.
struct ModelController: Sendable {
    let directory: ServiceDirectory

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.get("/models", use: list)
        api.get("/models/{name}", use: named)
        api.get("/models/{name}/active", use: active)
        api.post("/models/{name}/versions/{version}/activate", use: activate)
        api.delete("/models/{name}/versions/{version}", use: deleteVersion)
        api.get("/models/{name}/aliases/{alias}", use: alias)
        api.put("/models/{name}/aliases/{alias}", use: setAlias)
        api.delete("/models/{name}/aliases/{alias}", use: removeAlias)
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [ModelVersionRecord] {
        let params = ModelVersionsParams(modelName: request.uri.queryParameters.get("name"))
        return try await callTrainingOrchestrator(directory) { try await $0.call(ModelRegistryMethods.versions, params) }
    }

    /// `/models/{name}`: the name's versions; `/models/{name}@{alias}` (MLflow's `models:/name@alias`): the alias's version.
    @Sendable func named(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        let reference = context.parameters.get("name") ?? ""
        if let at = reference.firstIndex(of: "@") {
            let params = ModelAliasParams(modelName: String(reference[..<at]), alias: String(reference[reference.index(after: at)...]))
            let version = try await callTrainingOrchestrator(directory) { try await $0.call(ModelRegistryMethods.alias, params) }
            return try version.response(from: request, context: context)
        }
        let versions = try await callTrainingOrchestrator(directory) {
            try await $0.call(ModelRegistryMethods.versions, ModelVersionsParams(modelName: reference))
        }
        guard !versions.isEmpty else { throw APIError.notFound("no model \(reference)") }
        return try versions.response(from: request, context: context)
    }

    @Sendable func active(_ request: Request, context: AuthenticatedContext) async throws -> ActiveModelAnswer {
        let params = ActiveModelParams(modelName: context.parameters.get("name") ?? "")
        return try await callTrainingOrchestrator(directory) { try await $0.call(RegistryMethods.active, params) }
    }

    @Sendable func activate(_ request: Request, context: AuthenticatedContext) async throws -> ActiveModelAnswer {
        try context.requireAdmin("only admins choose the active model")
        let key = try versionKey(context)
        return try await callTrainingOrchestrator(directory) { try await $0.call(ModelRegistryMethods.activate, key) }
    }

    @Sendable func deleteVersion(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        try context.requireAdmin("only admins delete model versions")
        let key = try versionKey(context)
        _ = try await callTrainingOrchestrator(directory) { try await $0.call(ModelRegistryMethods.deleteVersion, key) }
        return .noContent
    }

    @Sendable func alias(_ request: Request, context: AuthenticatedContext) async throws -> ModelVersionRecord {
        let params = ModelAliasParams(modelName: context.parameters.get("name") ?? "", alias: context.parameters.get("alias") ?? "")
        return try await callTrainingOrchestrator(directory) { try await $0.call(ModelRegistryMethods.alias, params) }
    }

    struct AliasBody: Decodable {
        var version: Int
    }

    @Sendable func setAlias(_ request: Request, context: AuthenticatedContext) async throws -> ModelVersionRecord {
        try context.requireAdmin("only admins set aliases")
        let body = try await request.decodeBody(
            as: AliasBody.self, context: context,
            expected: "{\"version\": n}")
        let params = ModelAliasParams(
            modelName: context.parameters.get("name") ?? "", alias: context.parameters.get("alias") ?? "", version: body.version)
        return try await callTrainingOrchestrator(directory) { try await $0.call(ModelRegistryMethods.setAlias, params) }
    }

    @Sendable func removeAlias(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        try context.requireAdmin("only admins remove aliases")
        let params = ModelAliasParams(modelName: context.parameters.get("name") ?? "", alias: context.parameters.get("alias") ?? "")
        _ = try await callTrainingOrchestrator(directory) { try await $0.call(ModelRegistryMethods.removeAlias, params) }
        return .noContent
    }

    func versionKey(_ context: AuthenticatedContext) throws -> ModelVersionKey {
        guard let version = context.parameters.get("version", as: Int.self) else { throw APIError.invalidId("model version") }
        return ModelVersionKey(modelName: context.parameters.get("name") ?? "", version: version)
    }
}

/// `/api/v1/experiments`: what each training saw and measured; users see their own, admins all.
struct ExperimentController: Sendable {
    let directory: ServiceDirectory

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.get("/experiments", use: list)
        api.get("/experiments/compare", use: compare)
        api.get("/experiments/{id}", use: get)
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [ExperimentRecord] {
        let params = ListExperimentsParams(
            modelName: request.uri.queryParameters.get("modelName"), ownerId: context.visibility,
            limit: request.uri.queryParameters.get("limit", as: Int.self) ?? 50)
        return try await callTrainingOrchestrator(directory) { try await $0.call(ExperimentMethods.list, params) }
    }

    @Sendable func get(_ request: Request, context: AuthenticatedContext) async throws -> ExperimentRecord {
        let params = ExperimentRef(experimentId: try context.id(of: "experiment"), ownerId: context.visibility)
        return try await callTrainingOrchestrator(directory) { try await $0.call(ExperimentMethods.get, params) }
    }

    @Sendable func compare(_ request: Request, context: AuthenticatedContext) async throws -> [ExperimentRecord] {
        let texts = (request.uri.queryParameters.get("ids") ?? "").split(separator: ",")
        let ids = texts.compactMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        guard ids.count == texts.count, ids.count >= 2 else {
            throw APIError.badRequest("invalid_ids", "compare takes ?ids=<id>,<id>[,…]: two or more experiment ids")
        }
        let params = CompareExperimentsParams(experimentIds: ids, ownerId: context.visibility)
        return try await callTrainingOrchestrator(directory) { try await $0.call(ExperimentMethods.compare, params) }
    }
}
