import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Hummingbird

/// `/api/v1/training`: start, follow, cancel and retry training jobs on the training-orchestrator.
/// Users see their own jobs, admins all; the training data are repositories the caller may see.
struct TrainingController: Sendable {
    let repositories: RepositoryConfigPostgresStore
    let directory: ServiceDirectory

    func addRoutes(to api: RouterGroup<AuthenticatedContext>) {
        api.post("/training/jobs", use: start)
        api.get("/training/jobs", use: list)
        api.get("/training/stats", use: stats)
        api.get("/training/jobs/{id}", use: get)
        api.delete("/training/jobs/{id}", use: cancel)
        api.post("/training/jobs/{id}/retry", use: retry)
        api.get("/training/jobs/{id}/logs", use: logs)
        api.post("/training/schedules", use: createSchedule)
        api.get("/training/schedules", use: listSchedules)
        api.delete("/training/schedules/{id}", use: deleteSchedule)
        api.post("/training/schedules/{id}/pause", use: pauseSchedule)
        api.post("/training/schedules/{id}/resume", use: resumeSchedule)
    }

    struct StartBody: Decodable {
        var modelName: String?
        var parameters: TrainingParameters
        var repositoryIds: [Int64]
        var priority: TrainingPriority?
        var baseVersion: Int?
    }

    @Sendable func start(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<TrainingJobRecord> {
        let body = try await request.decodeBody(
            as: StartBody.self, context: context,
            expected: "{\"modelName\"?, \"parameters\": {\"kind\": \"xgboost\"|\"logistic_regression\", \"rounds\"?, …}, \"repositoryIds\": [id], \"priority\"?: \"urgent\"|\"high\"|\"normal\"|\"low\", \"baseVersion\"?}")
        let data = try await trainingData(body.repositoryIds, context: context)
        let params = StartTrainingParams(
            modelName: body.modelName ?? ModelNames.standard, parameters: body.parameters, data: data,
            priority: body.priority ?? .normal, baseVersion: body.baseVersion, createdBy: context.user.id)
        let job = try await orchestrator { try await $0.call(TrainingMethods.start, params) }
        return EditedResponse(status: .created, response: job)
    }

    /// The repositories a training reads: 1 to 100, each one the caller may see, with extracted features.
    func trainingData(_ repositoryIds: [Int64], context: AuthenticatedContext) async throws -> TrainingDataSpec {
        guard !repositoryIds.isEmpty, repositoryIds.count <= 100, Set(repositoryIds).count == repositoryIds.count else {
            throw APIError.badRequest("invalid_body", "repositoryIds names 1 to 100 different repositories")
        }
        var data: [TrainingRepository] = []
        for id in repositoryIds {
            guard let config = try await repositories.get(id: id, ownerId: context.visibility) else { throw APIError.notFound("no repository \(id)") }
            guard config.processing != nil else {
                throw APIError.conflict("not_processed", "repository \(id) (\(config.fullName)) has no extracted features yet")
            }
            data.append(TrainingRepository(pipelineId: String(id), fullName: config.fullName))
        }
        return TrainingDataSpec(repositories: data)
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> TrainingJobPage {
        let query = request.uri.queryParameters
        let status = try query.value("status", as: TrainingJobStatus.self)
        let params = ListTrainingJobsParams(
            modelName: query.get("modelName"), kind: query.get("type"), status: status, ownerId: context.visibility,
            limit: query.get("limit", as: Int.self) ?? 50, offset: query.get("offset", as: Int.self) ?? 0)
        return try await orchestrator { try await $0.call(TrainingMethods.list, params) }
    }

    @Sendable func get(_ request: Request, context: AuthenticatedContext) async throws -> TrainingJobRecord {
        let ref = TrainingJobRef(jobId: try context.id(of: "training job"), ownerId: context.visibility)
        return try await orchestrator { try await $0.call(TrainingMethods.get, ref) }
    }

    @Sendable func cancel(_ request: Request, context: AuthenticatedContext) async throws -> TrainingJobRecord {
        let ref = TrainingJobRef(jobId: try context.id(of: "training job"), ownerId: context.visibility)
        return try await orchestrator { try await $0.call(TrainingMethods.cancel, ref) }
    }

    @Sendable func retry(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<TrainingJobRecord> {
        let ref = TrainingJobRef(jobId: try context.id(of: "training job"), ownerId: context.visibility)
        let job = try await orchestrator { try await $0.call(TrainingMethods.retry, ref) }
        return EditedResponse(status: .created, response: job)
    }

    @Sendable func logs(_ request: Request, context: AuthenticatedContext) async throws -> [TrainingLogLine] {
        var tail: Int?
        if let text = request.uri.queryParameters.get("tail") {
            guard let value = Int(text), value >= 1 else { throw APIError.badRequest("invalid_tail", "tail must be a whole number of at least 1") }
            tail = value
        }
        let params = TrainingLogsParams(jobId: try context.id(of: "training job"), ownerId: context.visibility, tail: tail)
        return try await orchestrator { try await $0.call(TrainingMethods.logs, params) }
    }

    @Sendable func stats(_ request: Request, context: AuthenticatedContext) async throws -> TrainingStats {
        try await orchestrator { try await $0.call(TrainingMethods.stats, Empty()) }
    }

    func orchestrator<T: Sendable>(_ call: (RPCClient) async throws -> T) async throws -> T {
        try await callTrainingOrchestrator(directory, call)
    }
}

/// Calls the training-orchestrator; its refusals become 400 / 404 / 409 with its reason, anything
/// else a 502.
func callTrainingOrchestrator<T: Sendable>(_ directory: ServiceDirectory, _ call: (RPCClient) async throws -> T) async throws -> T {
    let answer: T
    do {
        answer = try await call(directory.client(for: .trainingOrchestrator))
    } catch {
        guard let remote = remoteError(error) else {
            throw APIError.unavailable("training_orchestrator_unavailable", "the training-orchestrator could not answer: \(error)")
        }
        let reason = remote.data?.reason ?? remote.message
        switch remote.kind {
        case .invalidInput?, .invalidParams?: throw APIError.badRequest("invalid_request", reason)
        case .notFound?: throw APIError.notFound(reason)
        case .conflict?: throw APIError.conflict("conflict", reason)
        default: throw APIError.unavailable("training_orchestrator_failed", reason)
        }
    }
    return answer
}
