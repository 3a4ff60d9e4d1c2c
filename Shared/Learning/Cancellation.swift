import Synchronization

/// A cancellation check the trainers call between boosting rounds and solver iterations.
///
/// Training is blocking C work that the caller runs off the concurrency pool (a thread pool), where
/// `Task.isCancelled` is always false; so the caller sets a `CancellationFlag` from the task's
/// cancellation handler and hands `flag.check` to the trainer:
///
///     let flag = CancellationFlag()
///     try await withTaskCancellationHandler {
///         try await threadPool.runIfActive { try RiskModelTrainer.train(..., isCancelled: flag.check) }
///     } onCancel: { flag.cancel() }
public typealias CancellationCheck = @Sendable () -> Bool

/// A flag set once from any thread and read by a training loop.
public final class CancellationFlag: Sendable {
    private let state = Atomic<Bool>(false)

    public init() {}

    public func cancel() { state.store(true, ordering: .relaxed) }

    public var isCancelled: Bool { state.load(ordering: .relaxed) }

    public var check: CancellationCheck { { [self] in isCancelled } }
}
