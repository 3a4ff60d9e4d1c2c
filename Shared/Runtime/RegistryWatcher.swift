import BuildRiskContracts
import BuildRiskRPC
import Logging
import ServiceLifecycle

/// Asks the registry for the active model of a name at start, again while it cannot be reached
/// or `apply` fails; later changes arrive through the registry's outbox (the predictor's
/// `predictions.activeModelChanged`, the gateway's `pipeline.activeModelChanged`).
public struct RegistryWatcher: Service {
    let directory: ServiceDirectory
    let modelName: String
    let logger: Logger
    let apply: @Sendable (ActiveModelChange) async throws -> Void

    public init(directory: ServiceDirectory, modelName: String, logger: Logger, apply: @escaping @Sendable (ActiveModelChange) async throws -> Void) {
        self.directory = directory
        self.modelName = modelName
        self.logger = logger
        self.apply = apply
    }

    public func run() async throws {
        // Cancelled at shutdown, so a wait between attempts does not hold the service up.
        await cancelWhenGracefulShutdown { await askUntilAnswered() }
        // A service that returns would stop the whole group: stay until shutdown.
        try? await gracefulShutdown()
    }

    private func askUntilAnswered() async {
        var delay = Duration.seconds(1)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var answer: ActiveModelAnswer?
            do {
                answer = try await directory.client(for: .trainingOrchestrator).call(RegistryMethods.active, ActiveModelParams(modelName: modelName))
            } catch {
                if case RPCClientError.remote(let remote) = error, remote.kind == .methodNotFound {
                    logger.notice("the training-orchestrator has no registry: no active model until one is activated")
                    return
                }
                logger.debug("the registry cannot be asked yet", metadata: ["error": "\(error)"])
            }
            if let answer {
                do {
                    try await apply(ActiveModelChange(modelName: modelName, active: answer.model, sequence: answer.sequence))
                    return
                } catch {
                    logger.error("the active model could not be applied; asking again", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(30))
        }
    }
}

extension RegistryWatcher: CustomStringConvertible {
    public var description: String { "RegistryWatcher(model: \(modelName))" }
}
