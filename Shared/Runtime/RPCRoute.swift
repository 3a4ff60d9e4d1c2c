import BuildRiskRPC
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOFoundationCompat

/// `POST /rpc`: authenticates the calling service, bounds the body, reads the caller's deadline
/// and hands the body to the dispatcher. ``InternalHTTPServer`` cancels the call's task when that
/// deadline passes, so the dispatcher need not watch it.
public struct RPCRoute: Sendable {
    public let dispatcher: RPCDispatcher
    public let tokens: ServiceTokens
    public let maxBodyBytes: Int

    public init(dispatcher: RPCDispatcher, tokens: ServiceTokens, maxBodyBytes: Int) {
        self.dispatcher = dispatcher
        self.tokens = tokens
        self.maxBodyBytes = maxBodyBytes
    }

    public func respond(to request: InternalRequest, logger: Logger) async -> InternalResponse {
        let limit = maxBodyBytes
        guard let token = HTTPHelpers.bearerToken(request.head.headerFields), let caller = tokens.verify(token) else {
            return errorResponse(
                RPCError(.unauthenticated, "Unauthenticated", reason: "a service token is required (Authorization: Bearer svc.<service>.<mac>)"),
                status: .unauthorized)
        }
        guard let body = request.body else {
            return errorResponse(.invalidRequest("the request body exceeds the limit of \(limit) bytes"), status: .contentTooLarge)
        }
        if body.readableBytes > limit {
            return errorResponse(.invalidRequest("the request body is \(body.readableBytes) bytes; the limit is \(limit)"), status: .contentTooLarge)
        }
        var deadline: ContinuousClock.Instant?
        if let header = request.head.headerFields[RPCHeader.timeoutField], let milliseconds = Int64(header), milliseconds > 0 {
            deadline = .now + .milliseconds(milliseconds)
        }
        var logger = logger
        logger[metadataKey: "caller"] = "\(caller.rawValue)"
        let answer = await dispatcher.respond(
            to: Data(buffer: body, byteTransferStrategy: .noCopy),
            context: RPCCallContext(caller: caller.rawValue, logger: logger, deadline: deadline, deadlineWatched: true))
        guard let answer else { return InternalResponse(head: HTTPResponse(status: .noContent), body: ByteBuffer()) }
        return InternalResponse(head: HTTPResponse(status: .ok, headerFields: [.contentType: "application/json"]), body: ByteBuffer(data: answer))
    }

    /// A JSON-RPC error answered at the HTTP level (before any request id is known).
    private func errorResponse(_ error: RPCError, status: HTTPResponse.Status) -> InternalResponse {
        struct Envelope: Encodable {
            var error: RPCError
            enum CodingKeys: String, CodingKey { case jsonrpc, error, id }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode("2.0", forKey: .jsonrpc)
                try container.encode(error, forKey: .error)
                try container.encodeNil(forKey: .id)
            }
        }
        let data = (try? HTTPHelpers.encoder.encode(Envelope(error: error))) ?? Data()
        return InternalResponse(head: HTTPResponse(status: status, headerFields: [.contentType: "application/json"]), body: ByteBuffer(data: data))
    }
}
