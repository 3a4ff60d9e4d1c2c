import BuildRiskContracts
import BuildRiskRuntime
import Foundation
import Logging
import PostgresNIO

/// Training schedules: a configuration queued as a training job at each time a cron expression names.
///
/// Each schedule row holds its next due time; one `training.scheduleTick` job waits for it (run_at
/// = the due time, idempotency key = schedule and due time, so replicas arming it at once queue
/// one). A tick locks the row and acts only when the row still names its due time: it queues the
/// training job, moves the due time to the first one after now and arms the next tick, all in one
/// transaction. A tick that comes late (no replica ran at the due time) therefore queues one job
/// and skips the due times missed meanwhile, instead of one per missed tick; a tick for a paused,
/// deleted or already served due time does nothing.
struct TrainingSchedules: Sendable {
    static let tick = JobKind<ScheduleTick>("training.scheduleTick")

    struct ScheduleTick: Codable, Sendable {
        var scheduleId: Int64
        /// The due time it serves, in whole seconds since 1970.
        var dueAt: Int64
    }

    let store: TrainingPostgresStore
    let jobs: TrainingJobs
    let postgres: PostgresClient
    let queue: JobQueue
    let logger: Logger

    func create(_ params: CreateTrainingScheduleParams) async throws -> TrainingScheduleRecord {
        let cron: CronExpression
        do {
            cron = try CronExpression(params.cron)
        } catch {
            throw TrainingRefusal.invalid("cron: \(error)")
        }
        try await jobs.validate(Self.training(of: params.modelName, params.parameters, params.data, params.priority, baseVersion: nil, createdBy: params.createdBy))
        let base = try params.base.map { text in
            try BaseVersion.requireContinuable(params.parameters)
            return try ScheduleBase(text)
        }
        guard let due = cron.next(after: Date()) else { throw TrainingRefusal.invalid("cron: '\(cron)' never matches a date") }
        let row = try await postgres.withTransaction(logger: logger) { connection in
            // The base must resolve now; it is resolved again at every firing (an alias may move).
            if let base, case .unresolved(let reason) = try await resolve(base, of: params.modelName, on: connection) {
                throw TrainingRefusal.invalid("base: \(reason)")
            }
            let id = try await store.insertSchedule(params, cron: cron.description, base: base?.stored, nextDueAt: due, on: connection)
            try await arm(id, due, on: connection)
            return try await store.schedule(id, on: connection)
        }
        guard let row else { throw StoreError.notWritten("training schedule") }
        return row.record
    }

    enum Resolution {
        case version(Int)
        case unresolved(String)
    }

    /// The XGBoost version `base` names now, or why there is none.
    func resolve(_ base: ScheduleBase, of modelName: String, on connection: PostgresConnection) async throws -> Resolution {
        let version: Int
        switch base {
        case .version(let number):
            version = number
        case .alias(let alias):
            guard let pointed = try await store.aliasVersion(modelName, alias, on: connection) else {
                return .unresolved("model \(modelName) has no alias \(alias)")
            }
            version = pointed
        }
        guard let ref = try await store.versionRef(modelName, version, on: connection) else {
            return .unresolved("model \(modelName) has no version \(version)")
        }
        if let problem = BaseVersion.problem(ref) { return .unresolved(problem) }
        return .version(version)
    }

    func setPaused(_ params: PauseTrainingScheduleParams) async throws -> TrainingScheduleRecord {
        let row = try await postgres.withTransaction(logger: logger) { connection -> TrainingPostgresStore.ScheduleRow? in
            guard let row = try await store.schedule(params.scheduleId, ownerId: params.ownerId, lock: true, on: connection) else {
                throw TrainingRefusal.notFound("no training schedule \(params.scheduleId)")
            }
            guard row.record.paused != params.paused else { return row }
            if params.paused {
                try await store.setSchedulePaused(params.scheduleId, paused: true, nextDueAt: row.nextDueAt, on: connection)
            } else {
                // Resumed from now on: the due times that passed while it was paused are not made up.
                let due = try CronExpression(row.record.cron).next(after: Date()) ?? row.nextDueAt
                try await store.setSchedulePaused(params.scheduleId, paused: false, nextDueAt: due, on: connection)
                try await arm(params.scheduleId, due, on: connection)
            }
            return try await store.schedule(params.scheduleId, on: connection)
        }
        guard let row else { throw StoreError.notWritten("training schedule") }
        return row.record
    }

    func delete(_ ref: TrainingScheduleRef) async throws {
        // Its waiting tick finds no row and does nothing.
        guard try await store.deleteSchedule(ref.scheduleId, ownerId: ref.ownerId) else {
            throw TrainingRefusal.notFound("no training schedule \(ref.scheduleId)")
        }
    }

    /// At start, every schedule that is not paused: a due time that passed while no replica ran is
    /// served at once (one job), here rather than only by its tick, which may have gone dead after
    /// its attempts and would hold the schedule for ever; a future one is armed (nothing new when
    /// its tick is queued).
    func start() async throws {
        let now = Date()
        for row in try await store.activeSchedules() {
            if row.nextDueAt <= now {
                do {
                    try await fire(ScheduleTick(scheduleId: row.record.id, dueAt: Int64(row.nextDueAt.timeIntervalSince1970.rounded())))
                    continue
                } catch {
                    logger.warning("a schedule's missed due time could not be served at start; its tick will", metadata: ["schedule": "\(row.record.id)", "error": "\(error)"])
                }
            }
            try await postgres.withConnection { try await arm(row.record.id, row.nextDueAt, on: $0) }
        }
    }

    func fire(_ tick: ScheduleTick) async throws {
        // The estimate reads past jobs on a connection of its own: taken before the row is locked.
        guard let seen = try await postgres.withConnection({ try await store.schedule(tick.scheduleId, on: $0) }), !seen.record.paused else { return }
        let estimate = try await jobs.estimate(seen.record.parameters)
        enum Outcome {
            case queued(job: Int64, missed: Int, next: Date)
            case skipped(reason: String, next: Date)
        }
        let outcome = try await postgres.withTransaction(logger: logger) { connection -> Outcome? in
            guard let row = try await store.schedule(tick.scheduleId, lock: true, on: connection), !row.record.paused,
                Int64(row.nextDueAt.timeIntervalSince1970.rounded()) == tick.dueAt
            else { return nil }
            // The text was accepted when the schedule was created.
            let cron = try CronExpression(row.record.cron)
            let now = Date()
            // Strictly after the due time even when this clock is a little behind the database's.
            let from = max(now, row.nextDueAt)
            guard let next = cron.next(after: from) else { return nil }
            let record = row.record
            // The base is resolved now: an alias follows its latest version; one that no longer
            // resolves gives up this due time, with the reason on the schedule, and arms the next.
            var baseVersion: Int?
            var baseNote = ""
            if let text = record.base {
                let base = try ScheduleBase(text)
                switch try await resolve(base, of: record.modelName, on: connection) {
                case .version(let version):
                    baseVersion = version
                    baseNote = "; continuing from version \(version)" + (base.isAlias ? " (\(base))" : "")
                case .unresolved(let why):
                    let reason = "base \(base) no longer resolves: \(why)"
                    try await store.advanceSchedule(record.id, servedDueAt: row.nextDueAt, jobId: nil, skipReason: reason, nextDueAt: next, on: connection)
                    try await arm(record.id, next, on: connection)
                    return .skipped(reason: reason, next: next)
                }
            }
            let missed = Self.dueTimes(of: cron, after: row.nextDueAt, through: now)
            let params = Self.training(of: record.modelName, record.parameters, record.data, record.priority, baseVersion: baseVersion, createdBy: record.createdBy)
            let note = "queued by schedule \(record.id) ('\(record.cron)') for \(record.nextDueAt)" + baseNote
                + (missed > 0 ? "; \(missed) later due time\(missed == 1 ? "" : "s") passed while no replica ran, served by this one job" : "")
            let job = try await jobs.queueJob(
                params, estimatedSeconds: estimate, retryOf: nil, scheduled: (record.id, row.nextDueAt), note: note,
                on: connection)
            try await store.advanceSchedule(record.id, servedDueAt: row.nextDueAt, jobId: job, nextDueAt: next, on: connection)
            try await arm(record.id, next, on: connection)
            return .queued(job: job, missed: missed, next: next)
        }
        switch outcome {
        case .queued(let job, let missed, let next)?:
            logger.info(
                "scheduled training queued",
                metadata: ["schedule": "\(tick.scheduleId)", "job": "\(job)", "missed": "\(missed)", "next": "\(next)"])
        case .skipped(let reason, let next)?:
            logger.error(
                "a schedule's due time queued no job", metadata: ["schedule": "\(tick.scheduleId)", "due": "\(tick.dueAt)", "reason": "\(reason)", "next": "\(next)"])
        case nil:
            break
        }
    }

    /// A tick's last attempt failed: that due time is given up (logged with the reason, no job) and
    /// the next one armed, so one due time that cannot be served never holds the schedule.
    func skip(_ tick: ScheduleTick, reason: String) async throws {
        let next = try await postgres.withTransaction(logger: logger) { connection -> Date? in
            guard let row = try await store.schedule(tick.scheduleId, lock: true, on: connection), !row.record.paused,
                Int64(row.nextDueAt.timeIntervalSince1970.rounded()) == tick.dueAt
            else { return nil }
            guard let next = try CronExpression(row.record.cron).next(after: max(Date(), row.nextDueAt)) else { return nil }
            try await store.advanceSchedule(
                row.record.id, servedDueAt: row.nextDueAt, jobId: nil, skipReason: "every attempt failed: \(reason)", nextDueAt: next, on: connection)
            try await arm(row.record.id, next, on: connection)
            return next
        }
        if let next {
            logger.error(
                "a schedule's due time could not be served and is skipped",
                metadata: ["schedule": "\(tick.scheduleId)", "due": "\(tick.dueAt)", "reason": "\(reason)", "next": "\(next)"])
        }
    }

    private func arm(_ id: Int64, _ due: Date, on connection: PostgresConnection) async throws {
        let seconds = Int64(due.timeIntervalSince1970.rounded())
        try await queue.enqueue(
            Self.tick, ScheduleTick(scheduleId: id, dueAt: seconds),
            options: JobOptions(priority: 5, runAt: due, maxAttempts: 10, idempotencyKey: "training.schedule:\(id):\(seconds)"),
            on: connection)
    }

    /// Due times after `start` up to `end`, counted up to 10,000 (for the log).
    static func dueTimes(of cron: CronExpression, after start: Date, through end: Date) -> Int {
        var count = 0
        var cursor = start
        while count < 10_000, let next = cron.next(after: cursor), next <= end {
            count += 1
            cursor = next
        }
        return count
    }

    static func training(
        of modelName: String, _ parameters: TrainingParameters, _ data: TrainingDataSpec, _ priority: TrainingPriority, baseVersion: Int?,
        createdBy: Int64
    ) -> StartTrainingParams {
        StartTrainingParams(modelName: modelName, parameters: parameters, data: data, priority: priority, baseVersion: baseVersion, createdBy: createdBy)
    }
}

/// A schedule's base: a version number (`3`) or an alias (`champion`, also written `@champion`
/// as in MLflow's `models:/name@champion`). Stored as the number or the bare alias.
enum ScheduleBase: CustomStringConvertible, Equatable {
    case version(Int)
    case alias(String)

    init(_ text: String) throws {
        let bare = text.hasPrefix("@") ? String(text.dropFirst()) : text
        if !bare.isEmpty, bare.allSatisfy(\.isASCII), bare.allSatisfy(\.isNumber) {
            guard let number = Int(bare), number >= 1 else { throw TrainingRefusal.invalid("base: a version number is at least 1, got '\(text)'") }
            self = .version(number)
        } else {
            guard ModelRegistry.isValidAlias(bare) else {
                throw TrainingRefusal.invalid("base: '\(text)' is neither a version number nor an alias (1–64 letters, digits, '-' or '_', starting with a letter)")
            }
            self = .alias(bare)
        }
    }

    var stored: String {
        switch self {
        case .version(let number): String(number)
        case .alias(let alias): alias
        }
    }

    var isAlias: Bool {
        if case .alias = self { return true }
        return false
    }

    var description: String {
        switch self {
        case .version(let number): "version \(number)"
        case .alias(let alias): "@\(alias)"
        }
    }
}
