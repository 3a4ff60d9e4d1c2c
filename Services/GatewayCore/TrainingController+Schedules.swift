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
        /// A version number (`3` or `"3"`) or an alias (`"champion"`, `"@champion"`).
        var base: String?

        enum CodingKeys: String, CodingKey {
            case cron, modelName, parameters, repositoryIds, priority, base
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            cron = try container.decode(String.self, forKey: .cron)
            modelName = try container.decodeIfPresent(String.self, forKey: .modelName)
            parameters = try container.decode(TrainingParameters.self, forKey: .parameters)
            repositoryIds = try container.decode([Int64].self, forKey: .repositoryIds)
            priority = try container.decodeIfPresent(TrainingPriority.self, forKey: .priority)
            if let number = try? container.decodeIfPresent(Int.self, forKey: .base) {
                base = String(number)
            } else {
                base = try container.decodeIfPresent(String.self, forKey: .base)
            }
        }
    }

    @Sendable func createSchedule(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<TrainingScheduleRecord> {
        let body = try await request.decodeBody(
            as: ScheduleBody.self, context: context,
            expected: "{\"cron\": \"minute hour day-of-month month day-of-week\" (UTC), \"modelName\"?, \"parameters\": {\"kind\": …}, \"repositoryIds\": [id], \"priority\"?, \"base\"?: version or alias}")
        let params = CreateTrainingScheduleParams(
            cron: body.cron, modelName: body.modelName ?? ModelNames.standard, parameters: body.parameters,
            data: try await trainingData(body.repositoryIds, context: context), priority: body.priority ?? .normal, base: body.base,
            createdBy: context.user.id)
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
