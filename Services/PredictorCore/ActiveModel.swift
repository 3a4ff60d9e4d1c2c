import BuildRiskContracts
import BuildRiskGit
import BuildRiskLearning
import BuildRiskRPC
import Foundation
import Logging
import PostgresNIO

/// A loaded model version; immutable, so a request that took it predicts with the whole of it
/// however many swaps happen meanwhile.
public struct ServedModel: Sendable {
    public let ref: ModelVersionRef
    public let model: RiskModel
    /// The registry's number of the change that loaded it: unique per load, so a version loaded
    /// again is another `ServedModel`.
    public let sequence: Int64
}

/// The active model of one name, swapped atomically when the registry says it changed. Requests
/// take the current `ServedModel` and keep it; a change older (by sequence) than the one applied
/// is ignored, also when it arrives while a newer one is loading.
public actor ActiveModel {
    public let modelName: String
    let dataDirectory: String
    private(set) var served: ServedModel?
    /// The sequence of the change applied last; -1 before any.
    private(set) var sequence: Int64 = -1

    public init(modelName: String, dataDirectory: String) {
        self.modelName = modelName
        self.dataDirectory = dataDirectory
    }

    public func current() -> ServedModel? { served }

    /// What applying a change did.
    public enum Applied: Sendable, Equatable {
        /// The change was older than (or as old as) the one applied, or of another model name.
        case ignored
        case activated(ModelVersionRef)
        case deactivated
    }

    /// Loads the version a change names (off the concurrency pool: XGBoost parses its JSON in C)
    /// and swaps it in; throws when the artifact cannot be read, leaving the current model.
    public func apply(_ change: ActiveModelChange) async throws -> Applied {
        guard change.modelName == modelName, change.sequence > sequence else { return .ignored }
        guard let ref = change.active else {
            served = nil
            sequence = change.sequence
            return .deactivated
        }
        // The path comes from another service: it may only name a directory under the data directory.
        guard !ref.artifactPath.hasPrefix("/"), !ref.artifactPath.split(separator: "/").contains("..") else {
            throw ActiveModelError.pathOutsideDataDirectory(ref.artifactPath)
        }
        let directory = URL(filePath: dataDirectory).appending(path: ref.artifactPath)
        let model = try await BlockingWork.run { try RiskModel(artifact: ModelArtifact.load(from: directory)) }
        // Another change may have been applied while this one loaded.
        guard change.sequence > sequence else { return .ignored }
        served = ServedModel(ref: ref, model: model, sequence: change.sequence)
        sequence = change.sequence
        return .activated(ref)
    }
}

public enum ActiveModelError: Error, CustomStringConvertible {
    case pathOutsideDataDirectory(String)

    public var description: String {
        switch self {
        case .pathOutsideDataDirectory(let path): "the artifact path '\(path)' leaves the data directory"
        }
    }
}

/// Applies the registry's changes to the active model; an activation queues the prediction of
/// every pipeline's pending builds (no manual step).
struct ModelActivation: Sendable {
    let models: ActiveModel
    let store: PredictionPostgresStore
    let processor: PredictionProcessor
    let postgres: PostgresClient
    let logger: Logger
    /// Scores by run id, of no use once another model serves.
    let scores: ScoreCache

    func apply(_ change: ActiveModelChange) async throws {
        let applied: ActiveModel.Applied
        do {
            applied = try await models.apply(change)
        } catch {
            logger.error("could not load the active model", metadata: ["version": "\(change.active?.version ?? 0)", "error": "\(error)"])
            throw RPCError(.internalError, "Model not loaded", reason: "\(error)")
        }
        if applied != .ignored { scores.removeAll() }
        guard case .activated(let ref) = applied else { return }
        logger.notice("serving model", metadata: ["model": "\(ref.modelName)", "version": "\(ref.version)"])
        let pending = try await store.pipelinesWithPending()
        try await postgres.withTransaction(logger: logger) { connection in
            for pipelineId in pending {
                _ = try await processor.enqueue(
                    .init(pipelineId: pipelineId, scope: .unpredicted), key: "activated:\(ref.modelName):\(change.sequence):\(pipelineId)", on: connection)
            }
        }
    }
}
