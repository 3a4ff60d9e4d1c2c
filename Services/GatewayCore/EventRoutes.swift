import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import BuildRiskRuntime

/// `GET /api/v1/events`: a WebSocket that pushes the caller's events as JSON text messages.
/// The API token comes as `Authorization: Bearer` or, for browsers (which cannot set headers on a
/// WebSocket), as `?token=`.
struct EventRoutes: Sendable {
    let users: UserPostgresStore
    let events: EventHub

    func router() -> Router<BasicWebSocketRequestContext> {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/api/v1/events") { request, _ in
            guard try await user(request) != nil else { throw HTTPError(.unauthorized, message: "send an API token: Authorization: Bearer <token> or ?token=") }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let user = try await user(context.request) else { return }
            let (id, stream) = events.subscribe(user)
            defer { events.unsubscribe(id) }
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys]
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in stream {
                        try await outbound.write(.text(String(decoding: try encoder.encode(event), as: UTF8.self)))
                    }
                }
                // The connection lives until the client closes it; what it sends is ignored.
                for try await _ in inbound {}
                group.cancelAll()
            }
        }
        return router
    }

    private func user(_ request: Request) async throws -> User? {
        let token = HTTPHelpers.bearerToken(request) ?? request.uri.queryParameters.get("token")
        guard let token, !token.isEmpty else { return nil }
        return try await users.authenticate(token: token)
    }
}
