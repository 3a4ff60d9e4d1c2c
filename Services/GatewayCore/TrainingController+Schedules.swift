import BuildRiskContracts
import BuildRiskRPC
import Hummingbird

/// `/api/v1/training/schedules`: a training configuration queued as a job at each time a cron
/// expression (UTC) names. Users see their own schedules, admins all.
extension TrainingController {
    struct ScheduleBody: Decodable {
        var cron: String
        var modelName: String?
        var parameters: TrainingParameters
        var repositoryIds: [Int64]
        var priority: TrainingPriority?
    }

    @Sendable func createSchedule(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<TrainingScheduleRecord> {
        let body = try await request.decodeBody(
            as: ScheduleBody.self, context: context,
            expected: "{\"cron\": \"minute hour day-of-month month day-of-week\" (UTC), \"modelName\"?, \"parameters\": {\"kind\": …}, \"repositoryIds\": [id], \"priority\"?}")
        let params = CreateTrainingScheduleParams(
            cron: body.cron, modelName: body.modelName ?? ModelNames.standard, parameters: body.parameters,
            data: try await trainingData(body.repositoryIds, context: context), priority: body.priority ?? .normal, createdBy: context.user.id)
        let schedule = try await orchestrator { try await $0.call(TrainingScheduleMethods.create, params) }
        return EditedResponse(status: .created, response: schedule)
    }

    @Sendable func listSchedules(_ request: Request, context: AuthenticatedContext) async throws -> [TrainingScheduleRecord] {
        let params = ListTrainingSchedulesParams(modelName: request.uri.queryParameters.get("modelName"), ownerId: context.visibility)
        return try await orchestrator { try await $0.call(TrainingScheduleMethods.list, params) }
    }

    @Sendable func deleteSchedule(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        let ref = TrainingScheduleRef(scheduleId: try context.id(of: "training schedule"), ownerId: context.visibility)
        _ = try await orchestrator { try await $0.call(TrainingScheduleMethods.delete, ref) }
        return .noContent
    }

    @Sendable func pauseSchedule(_ request: Request, context: AuthenticatedContext) async throws -> TrainingScheduleRecord {
        try await setPaused(true, context: context)
    }

    @Sendable func resumeSchedule(_ request: Request, context: AuthenticatedContext) async throws -> TrainingScheduleRecord {
        try await setPaused(false, context: context)
    }

    private func setPaused(_ paused: Bool, context: AuthenticatedContext) async throws -> TrainingScheduleRecord {
        let params = PauseTrainingScheduleParams(scheduleId: try context.id(of: "training schedule"), ownerId: context.visibility, paused: paused)
        return try await orchestrator { try await $0.call(TrainingScheduleMethods.setPaused, params) }
    }
}
