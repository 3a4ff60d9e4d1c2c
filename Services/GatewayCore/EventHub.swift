import BuildRiskContracts
import Foundation
import Synchronization

/// An event pushed to users over `/api/v1/events`, one case per type, each with its own payload.
/// On the wire it is one JSON object: `type` (`REPO_UPDATE`, `BUILD_UPDATE`, `SOURCE_UPDATE`, `TRAINING_UPDATE`,
/// `DATASET_UPDATE`, `SCAN_UPDATE`) beside
/// the payload's fields.
public enum GatewayEvent: Sendable, Equatable {
    /// A repository's pipeline status and counts moved on (to its owner and admins).
    case repoUpdate(RepoUpdate)
    /// Builds of a repository reached their final ingestion status (to its owner and admins).
    case buildUpdate(BuildUpdate)
    /// Builds of a repository had their features extracted (to its owner and admins); on the wire
    /// a `BUILD_UPDATE` with `phase: "processing"`.
    case buildExtracted(BuildExtracted)
    /// A build source's validation moved on (to admins).
    case sourceUpdate(SourceUpdate)
    /// A training job moved on: status, progress, phase, the latest round's losses (to its owner and admins).
    case trainingUpdate(TrainingUpdate)
    /// Builds of a repository were predicted (to its owner and admins); on the wire a
    /// `BUILD_UPDATE` with `phase: "prediction"`.
    case buildPredicted(BuildPredicted)
    /// A dataset version's pipeline status and counts moved on (to the dataset's owner and admins).
    case datasetUpdate(DatasetUpdate)
    /// A commit scan a repository or a dataset version asked for ended (to its owner and admins).
    case scanUpdate(ScanUpdateEvent)

    public struct ScanUpdateEvent: Codable, Sendable, Equatable {
        /// The repository config, for a model pipeline's scans.
        public var repoId: Int64?
        /// The dataset and version, for a dataset version's scans.
        public var datasetId: Int64?
        public var versionId: Int64?
        public var tool: ScanToolName
        public var commitSha: String
        public var status: CommitScanStatus
        public var error: String?
        public var at: Date
    }

    public struct DatasetUpdate: Codable, Sendable, Equatable {
        public var datasetId: Int64
        public var versionId: Int64
        public var status: String
        public var message: String?
        /// The version's builds by ingestion and extraction status, summed over its repositories.
        public var counts: [String: Int]
        public var at: Date
    }

    public struct RepoUpdate: Codable, Sendable, Equatable {
        public var repoId: Int64
        public var status: String
        public var message: String?
        public var counts: [String: Int]
        public var at: Date
    }

    public struct BuildUpdate: Codable, Sendable, Equatable {
        public var repoId: Int64
        public var phase = "ingestion"
        public var builds: [SettledBuild]
        public var at: Date
    }

    public struct BuildExtracted: Codable, Sendable, Equatable {
        public var repoId: Int64
        public var phase = "processing"
        public var builds: [ExtractedBuild]
        public var at: Date
    }

    public struct BuildPredicted: Codable, Sendable, Equatable {
        public var repoId: Int64
        public var phase = "prediction"
        public var builds: [PredictedBuild]
        public var at: Date
    }

    public struct SourceUpdate: Codable, Sendable, Equatable {
        public var sourceId: String
        public var status: String
        public var message: String?
        public var counts: [String: Int]
        public var at: Date
    }

    /// The wire name of the event's type.
    public var type: String {
        switch self {
        case .repoUpdate: "REPO_UPDATE"
        case .buildUpdate, .buildExtracted, .buildPredicted: "BUILD_UPDATE"
        case .sourceUpdate: "SOURCE_UPDATE"
        case .trainingUpdate: "TRAINING_UPDATE"
        case .datasetUpdate: "DATASET_UPDATE"
        case .scanUpdate: "SCAN_UPDATE"
        }
    }

    public var repoUpdate: RepoUpdate? { if case .repoUpdate(let update) = self { update } else { nil } }
    public var buildUpdate: BuildUpdate? { if case .buildUpdate(let update) = self { update } else { nil } }
    public var buildExtracted: BuildExtracted? { if case .buildExtracted(let update) = self { update } else { nil } }
    public var buildPredicted: BuildPredicted? { if case .buildPredicted(let update) = self { update } else { nil } }
    public var sourceUpdate: SourceUpdate? { if case .sourceUpdate(let update) = self { update } else { nil } }
    public var trainingUpdate: TrainingUpdate? { if case .trainingUpdate(let update) = self { update } else { nil } }
    public var datasetUpdate: DatasetUpdate? { if case .datasetUpdate(let update) = self { update } else { nil } }
    public var scanUpdate: ScanUpdateEvent? { if case .scanUpdate(let update) = self { update } else { nil } }
}

extension GatewayEvent: Codable {
    private enum CodingKeys: String, CodingKey { case type, phase }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "REPO_UPDATE": self = .repoUpdate(try RepoUpdate(from: decoder))
        case "BUILD_UPDATE" where try container.decodeIfPresent(String.self, forKey: .phase) == "processing":
            self = .buildExtracted(try BuildExtracted(from: decoder))
        case "BUILD_UPDATE" where try container.decodeIfPresent(String.self, forKey: .phase) == "prediction":
            self = .buildPredicted(try BuildPredicted(from: decoder))
        case "BUILD_UPDATE": self = .buildUpdate(try BuildUpdate(from: decoder))
        case "SOURCE_UPDATE": self = .sourceUpdate(try SourceUpdate(from: decoder))
        case "TRAINING_UPDATE": self = .trainingUpdate(try TrainingUpdate(from: decoder))
        case "DATASET_UPDATE": self = .datasetUpdate(try DatasetUpdate(from: decoder))
        case "SCAN_UPDATE": self = .scanUpdate(try ScanUpdateEvent(from: decoder))
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.type], debugDescription: "unknown event type \(type)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .repoUpdate(let update): try update.encode(to: encoder)
        case .buildUpdate(let update): try update.encode(to: encoder)
        case .buildExtracted(let update): try update.encode(to: encoder)
        case .sourceUpdate(let update): try update.encode(to: encoder)
        case .trainingUpdate(let update): try update.encode(to: encoder)
        case .buildPredicted(let update): try update.encode(to: encoder)
        case .datasetUpdate(let update): try update.encode(to: encoder)
        case .scanUpdate(let update): try update.encode(to: encoder)
        }
    }
}

/// Fans events out to the connected users who may see them: the owner of the record and admins.
///
/// Subscribers are the WebSocket connections of this gateway process; with several gateway
/// replicas each pushes what it applies itself (a PostgreSQL NOTIFY fan-out would join them).
public final class EventHub: Sendable {
    private struct Subscriber {
        var userId: Int64
        var isAdmin: Bool
        var continuation: AsyncStream<GatewayEvent>.Continuation
    }
    private let subscribers = Mutex<[UUID: Subscriber]>([:])

    public init() {}

    /// Events for `user` until `unsubscribe`; a slow reader keeps the newest 256 and loses older ones.
    public func subscribe(_ user: User) -> (UUID, AsyncStream<GatewayEvent>) {
        let (stream, continuation) = AsyncStream.makeStream(of: GatewayEvent.self, bufferingPolicy: .bufferingNewest(256))
        let id = UUID()
        subscribers.withLock { $0[id] = Subscriber(userId: user.id, isAdmin: user.role == .admin, continuation: continuation) }
        return (id, stream)
    }

    public func unsubscribe(_ id: UUID) {
        subscribers.withLock { $0.removeValue(forKey: id) }?.continuation.finish()
    }

    /// Sends `event` to the owner's connections (none when `ownerId` is nil) and every admin's.
    public func publish(_ event: GatewayEvent, ownerId: Int64?) {
        let targets = subscribers.withLock { $0.values.filter { $0.isAdmin || $0.userId == ownerId }.map(\.continuation) }
        for continuation in targets { continuation.yield(event) }
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }
}
