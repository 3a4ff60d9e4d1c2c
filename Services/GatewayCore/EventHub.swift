import BuildRiskContracts
import Foundation
import Synchronization

/// An event pushed to users over `/api/v1/events`: `REPO_UPDATE` (a repository's status and
/// counts), `BUILD_UPDATE` (builds that reached their final ingestion status) and, to admins,
/// `SOURCE_UPDATE` (a build source's validation status and counts); later pipelines add theirs.
public struct GatewayEvent: Codable, Sendable, Equatable {
    public var type: String
    public var repoId: Int64?
    public var sourceId: String?
    public var status: String?
    public var message: String?
    public var counts: [String: Int]?
    public var builds: [SettledBuild]?
    public var at: Date

    public init(
        type: String, repoId: Int64?, sourceId: String? = nil, status: String?, message: String?, counts: [String: Int]?,
        builds: [SettledBuild]? = nil, at: Date
    ) {
        self.type = type
        self.repoId = repoId
        self.sourceId = sourceId
        self.status = status
        self.message = message
        self.counts = counts
        self.builds = builds
        self.at = at
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
