/// Training schedules: a training configuration queued as a job at every time a cron expression
/// names (UTC). Calls carry the caller's `ownerId` (nil for an admin): another user's schedule is
/// answered as not found.
public enum TrainingScheduleMethods {
    public static let create = RPCMethod<CreateTrainingScheduleParams, TrainingScheduleRecord>(
        "training.createSchedule",
        summary: "Creates a schedule: at each time its cron expression (5 fields, UTC) names, a training job with its configuration is queued, once per due time however many replicas run; with a base (a version number or an alias, resolved when it fires) the job continues boosting from that version. A bad expression, configuration or base is refused and writes nothing."
    )
    public static let list = RPCMethod<ListTrainingSchedulesParams, [TrainingScheduleRecord]>(
        "training.listSchedules",
        summary: "Schedules, newest first, with their next due time and the last job each queued."
    )
    public static let delete = RPCMethod<TrainingScheduleRef, Empty>(
        "training.deleteSchedule",
        summary: "Deletes a schedule; jobs it already queued stay."
    )
    public static let setPaused = RPCMethod<PauseTrainingScheduleParams, TrainingScheduleRecord>(
        "training.pauseSchedule",
        summary: "Pauses a schedule (its due times pass without a job) or resumes it from the next due time after now."
    )
}

public struct CreateTrainingScheduleParams: Codable, Sendable, Equatable {
    /// Five fields: minute hour day-of-month month day-of-week, in UTC.
    public var cron: String
    public var modelName: String
    public var parameters: TrainingParameters
    public var data: TrainingDataSpec
    public var priority: TrainingPriority
    /// The version each job continues boosting from (XGBoost only): a version number (`"3"`) or an
    /// alias of the same name (`"champion"`, MLflow's `models:/name@champion`), resolved when the
    /// schedule fires, so the nightly retrain follows the alias.
    public var base: String?
    public var createdBy: Int64

    public init(cron: String, modelName: String, parameters: TrainingParameters, data: TrainingDataSpec, priority: TrainingPriority = .normal,
                base: String? = nil, createdBy: Int64) {
        self.cron = cron
        self.modelName = modelName
        self.parameters = parameters
        self.data = data
        self.priority = priority
        self.base = base
        self.createdBy = createdBy
    }
}

public struct ListTrainingSchedulesParams: Codable, Sendable, Equatable {
    public var modelName: String?
    public var ownerId: Int64?

    public init(modelName: String? = nil, ownerId: Int64? = nil) {
        self.modelName = modelName
        self.ownerId = ownerId
    }
}

public struct TrainingScheduleRef: Codable, Sendable, Equatable {
    public var scheduleId: Int64
    public var ownerId: Int64?

    public init(scheduleId: Int64, ownerId: Int64? = nil) {
        self.scheduleId = scheduleId
        self.ownerId = ownerId
    }
}

public struct PauseTrainingScheduleParams: Codable, Sendable, Equatable {
    public var scheduleId: Int64
    public var ownerId: Int64?
    /// True pauses, false resumes.
    public var paused: Bool

    public init(scheduleId: Int64, ownerId: Int64? = nil, paused: Bool) {
        self.scheduleId = scheduleId
        self.ownerId = ownerId
        self.paused = paused
    }
}

public struct TrainingScheduleRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var cron: String
    public var modelName: String
    public var parameters: TrainingParameters
    public var data: TrainingDataSpec
    public var priority: TrainingPriority
    /// The version number or alias each job continues from (see ``CreateTrainingScheduleParams/base``).
    public var base: String?
    public var paused: Bool
    /// The next time a job is due (ISO 8601, UTC); a paused schedule skips it.
    public var nextDueAt: String
    /// The due time of the last job it queued, and that job.
    public var lastDueAt: String?
    public var lastJobId: Int64?
    /// The last due time that queued no job (its base no longer resolved, or every attempt failed), and why.
    public var lastSkippedAt: String?
    public var lastSkipReason: String?
    public var createdBy: Int64
    public var createdAt: String

    public init(id: Int64, cron: String, modelName: String, parameters: TrainingParameters, data: TrainingDataSpec, priority: TrainingPriority,
                base: String? = nil, paused: Bool, nextDueAt: String, lastDueAt: String?, lastJobId: Int64?, lastSkippedAt: String? = nil,
                lastSkipReason: String? = nil, createdBy: Int64, createdAt: String) {
        self.id = id
        self.cron = cron
        self.modelName = modelName
        self.parameters = parameters
        self.data = data
        self.priority = priority
        self.base = base
        self.paused = paused
        self.nextDueAt = nextDueAt
        self.lastDueAt = lastDueAt
        self.lastJobId = lastJobId
        self.lastSkippedAt = lastSkippedAt
        self.lastSkipReason = lastSkipReason
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}
