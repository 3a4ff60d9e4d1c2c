import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// What a job handler is given besides the job.
public struct JobContext: Sendable {
    /// The job being run (its id and attempt number).
    public var job: Job
    public var logger: Logger
    public var queue: JobQueue
}

/// Runs jobs of one kind; made by ``JobHandlers/register(_:backoff:_:)`` from a typed ``JobKind``.
/// Throw ``JobError/permanent(_:)`` for failures a retry cannot fix; any other error is retried
/// with backoff until the job's last attempt.
public struct JobHandler: Sendable {
    public var backoff: Backoff
    let run: @Sendable (Job, JobContext) async throws -> Void

    init(backoff: Backoff = Backoff(), _ run: @escaping @Sendable (Job, JobContext) async throws -> Void) {
        self.backoff = backoff
        self.run = run
    }
}

/// Claims and runs a service's jobs with a bounded number in flight.
///
/// Idle, it sleeps until a `NOTIFY` on the queue's channel or the next scheduled `run_at`; it
/// never polls in a loop. On graceful shutdown it stops claiming, lets running jobs finish for
/// `shutdownGrace`, then cancels them and releases their jobs to the queue.
public final class JobWorker: Service, Sendable {
    public let queue: JobQueue
    let handlers: [String: JobHandler]
    let concurrency: Int
    let lease: Duration
    let shutdownGrace: Duration
    /// Identifies this worker's leases, e.g. `ingestor@host:pid:uuid`.
    public let owner: String
    let logger: Logger
    /// Called before the first claim (the service waits for its migrations there).
    /// Returns when the worker may claim jobs; must return promptly when its task is cancelled.
    let waitUntilReady: @Sendable () async -> Void
    /// How long an idle worker sleeps with no notification and no delayed job: only a safety net
    /// for a notification lost while the listener reconnected.
    let idleRecheck: Duration

    private let wake = WakeSignal()
    /// Fired when the shutdown grace period is over: running handlers are stopped and released.
    private let graceExpired = OnceFlag()
    private let state = Mutex(WorkerState())

    struct WorkerState {
        var inFlight = 0
        var shuttingDown = false
        var counters = Counters()
    }

    /// How the worker has spent its time since it started: what it asked the queue and what woke it.
    public struct Counters: Sendable, Equatable {
        /// The listener's LISTEN is in place: a job enqueued from now on wakes the worker.
        public var listening = false
        /// Claim queries sent (each asks for as many jobs as there are free slots).
        public var claims = 0
        /// Notifications received on the queue's channel.
        public var notifications = 0
        /// Idle sleeps that ended at their timeout (a delayed job's `run_at`, or ``idleRecheck``)
        /// rather than by a wake-up.
        public var timedWakeups = 0
    }

    /// The worker's counters so far.
    public var counters: Counters { state.withLock { $0.counters } }

    public init(
        queue: JobQueue, handlers: JobHandlers, concurrency: Int, lease: Duration,
        shutdownGrace: Duration = .seconds(10), owner: String? = nil, logger: Logger,
        idleRecheck: Duration = .seconds(30), waitUntilReady: @escaping @Sendable () async -> Void = {}
    ) {
        self.queue = queue
        self.handlers = handlers.byName
        self.concurrency = max(1, concurrency)
        self.lease = lease
        self.shutdownGrace = shutdownGrace
        self.owner = owner ?? "\(queue.schema)@\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8))"
        self.logger = logger
        self.waitUntilReady = waitUntilReady
        self.idleRecheck = idleRecheck
    }

    public func run() async throws {
        guard !handlers.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        // A shutdown that comes before the service is ready (migrations still failing, say) ends
        // the wait: a worker stuck here would hold up the whole service group's shutdown.
        let ready = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitUntilReady()
                return !Task.isCancelled
            }
            group.addTask {
                try? await gracefulShutdown()
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard ready else { return }
        let kinds = handlers.keys.sorted()
        await withDiscardingTaskGroup { background in
            background.addTask { await self.listenForNotifications() }
            background.addTask { await self.reapExpiredLeases() }
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { jobs in
                    await self.dispatch(kinds: kinds, into: &jobs)
                    await self.drain(jobs: &jobs)
                }
            } onGracefulShutdown: {
                self.state.withLock { $0.shuttingDown = true }
                self.wake.signal()
            }
            background.cancelAll()
        }
    }

    private var shuttingDown: Bool { state.withLock { $0.shuttingDown } || Task.isCancelled }

    private func dispatch(kinds: [String], into jobs: inout DiscardingTaskGroup) async {
        while !shuttingDown {
            let free = concurrency - state.withLock { $0.inFlight }
            var claimed: [Job] = []
            if free > 0 {
                do {
                    state.withLock { $0.counters.claims += 1 }
                    claimed = try await queue.claim(kinds: kinds, limit: free, owner: owner, lease: lease)
                } catch {
                    logger.warning("claiming jobs failed", metadata: ["error": "\(String(reflecting: error))"])
                    await wake.wait(timeout: .seconds(1))
                    continue
                }
            }
            for job in claimed {
                state.withLock { $0.inFlight += 1 }
                jobs.addTask {
                    await self.execute(job)
                    self.state.withLock { $0.inFlight -= 1 }
                    self.wake.signal()
                }
            }
            if free > 0 && claimed.count == free { continue }
            // Sleep until notified, or until the next delayed job is due.
            var timeout = idleRecheck
            if free > claimed.count, let due = try? await queue.secondsUntilNextDue(kinds: kinds) {
                timeout = min(timeout, .milliseconds(Int64(due * 1000) + 5))
            }
            if await !wake.wait(timeout: timeout) { state.withLock { $0.counters.timedWakeups += 1 } }
        }
    }

    /// After shutdown began: wait for running jobs up to the grace period, then cancel them.
    private func drain(jobs: inout DiscardingTaskGroup) async {
        let deadline = ContinuousClock.now + shutdownGrace
        while state.withLock({ $0.inFlight }) > 0, ContinuousClock.now < deadline {
            await wake.wait(timeout: deadline - ContinuousClock.now)
        }
        if state.withLock({ $0.inFlight }) > 0 {
            logger.notice("stopping running jobs at shutdown; they go back to the queue")
            graceExpired.fire()
        }
        // The group waits for the released jobs' tasks before returning.
    }

    private enum Ending: Sendable {
        case finished(Result<Void, any Error>)
        case leaseLost
        case cancelRequested
        case shutdown
    }

    private func execute(_ job: Job) async {
        var logger = self.logger
        logger[metadataKey: "job"] = "\(job.id)"
        logger[metadataKey: "kind"] = "\(job.kind)"
        guard let handler = handlers[job.kind] else { return }
        let context = JobContext(job: job, logger: logger, queue: queue)
        let ending: Ending = await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                do {
                    try await handler.run(job, context)
                    return .finished(.success(()))
                } catch {
                    return .finished(.failure(error))
                }
            }
            group.addTask { await self.keepLease(of: job) }
            group.addTask { await self.graceExpired.wait() ? .shutdown : nil }
            var ending: Ending = .leaseLost
            while let next = await group.next() {
                if let next {
                    ending = next
                    break
                }
            }
            group.cancelAll()
            return ending
        }
        do {
            switch ending {
            case .finished(.success):
                if try await !queue.complete(job: job.id, owner: owner) {
                    logger.warning("job finished after its lease was lost; another worker owns it")
                }
            case .finished(.failure(let error)):
                let permanent = error is JobError
                let delay = handler.backoff.delay(afterAttempt: job.attempt)
                let state = try await queue.fail(
                    job: job.id, owner: owner, error: String(describing: error), retryAfter: delay, permanent: permanent)
                if state == .dead {
                    logger.error("job is dead", metadata: ["attempt": "\(job.attempt)", "error": "\(error)"])
                } else {
                    logger.info("job failed; retrying", metadata: ["attempt": "\(job.attempt)", "retryIn": "\(delay)", "error": "\(error)"])
                }
            case .cancelRequested:
                try await queue.markCancelled(job: job.id, owner: owner)
            case .leaseLost:
                logger.warning("lost the lease of a running job; stopped it")
            case .shutdown:
                try await queue.release(job: job.id, owner: owner)
            }
        } catch {
            // The lease will expire and the reaper will hand the job to another run.
            logger.error("could not record the end of a job", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Renews the lease every third of its length; ends when it is lost or a cancel is requested.
    private func keepLease(of job: Job) async -> Ending? {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: lease / 3)
            } catch {
                return nil
            }
            do {
                switch try await queue.renewLease(job: job.id, owner: owner, lease: lease) {
                case nil: return .leaseLost
                case true?: return .cancelRequested
                case false?: continue
                }
            } catch {
                logger.warning("renewing a lease failed", metadata: ["job": "\(job.id)", "error": "\(String(reflecting: error))"])
            }
        }
        return nil
    }

    private func listenForNotifications() async {
        while !Task.isCancelled {
            do {
                try await queue.client.withConnection { connection in
                    try await connection.listen(on: queue.channel) { notifications in
                        // Listening now: anything enqueued before is found by the next claim.
                        state.withLock { $0.counters.listening = true }
                        wake.signal()
                        for try await _ in notifications {
                            state.withLock { $0.counters.notifications += 1 }
                            wake.signal()
                        }
                    }
                }
            } catch {
                state.withLock { $0.counters.listening = false }
                if Task.isCancelled { return }
                logger.warning("LISTEN connection failed; reconnecting", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func reapExpiredLeases() async {
        let interval = max(lease / 2, .milliseconds(500))
        while !Task.isCancelled {
            do {
                if try await queue.reapExpiredLeases() > 0 { wake.signal() }
            } catch {
                logger.warning("reaping expired leases failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}

/// A wake-up flag one task waits on and any task can raise; a raise while nobody waits is kept.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when signalled (or already signalled), after `timeout`, or when cancelled: true
    /// unless the timeout ended the wait.
    @discardableResult
    func wait(timeout: Duration) async -> Bool {
        let alreadySignalled = state.withLock { state -> Bool in
            defer { state.pending = false }
            return state.pending
        }
        if alreadySignalled { return true }
        if timeout <= .zero { return false }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return false
                } catch {
                    return true
                }
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLock { state -> Bool in
                            if state.pending {
                                state.pending = false
                                return true
                            }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.signal()
                }
                return true
            }
            let signalled = await group.next() ?? true
            group.cancelAll()
            return signalled
        }
    }
}

/// A flag that is fired once and that any number of tasks wait for.
final class OnceFlag: Sendable {
    private struct State {
        var fired = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }
    private let state = Mutex(State())

    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// True when the flag fired, false when the waiting task was cancelled first.
    func wait() async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let answer = state.withLock { state -> Bool? in
                    if state.fired { return true }
                    if Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }
}
