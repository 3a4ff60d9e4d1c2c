import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRPC
import BuildRiskRuntime
import FeatureExtractorCore
import Foundation
import GatewayCore
import GitHubSandboxCore
import HummingbirdWSClient
import IngestorCore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import SourceValidatorCore
import Synchronization
import Testing

/// The gateway's event stream (`/api/v1/events`) as the holder of `token` sees it, gathered in the
/// background from the moment ``open(_:token:)`` returns (the socket is open) until ``close()``.
final class EventListener: Sendable {
    let received = Locked<[GatewayEvent]>([])
    private let connected = Locked(false)
    private let task = Locked<Task<Void, any Error>?>(nil)

    static func open(_ cluster: TestCluster, token: String) async throws -> EventListener {
        let listener = EventListener()
        let url = "ws://127.0.0.1:\(cluster.publicPort)/api/v1/events?token=\(token)"
        listener.task.update {
            $0 = Task {
                try await WebSocketClient.connect(url: url, logger: TestEnvironment.logger) { inbound, _, _ in
                    listener.connected.update { $0 = true }
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        guard case .text(let text) = message,
                            let event = try? HTTPHelpers.decoder.decode(GatewayEvent.self, from: Data(text.utf8))
                        else { continue }
                        listener.received.update { $0.append(event) }
                    }
                }
            }
        }
        try await waitUntil("the events socket is open") { listener.connected.value }
        return listener
    }

    /// The events of `type` received so far.

    func close() {
        task.value?.cancel()
    }
}
