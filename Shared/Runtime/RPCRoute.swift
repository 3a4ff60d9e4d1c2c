import BuildRiskRPC
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

/// `POST /rpc`: authenticates the calling service, bounds the body, reads the caller's deadline
/// and hands the body to the dispatcher.
public struct RPCRoute: Sendable {
    public let dispatcher: RPCDispatcher
    public let tokens: ServiceTokens
    public let maxBodyBytes: Int

    public init(dispatcher: RPCDispatcher, tokens: ServiceTokens, maxBodyBytes: Int) {
        self.dispatcher = dispatcher
        self.tokens = tokens
        self.maxBodyBytes = maxBodyBytes
    }

    public func respond(to request: Request, logger: Logger) async -> Response {
        let limit = maxBodyBytes
        guard let token = HTTPHelpers.bearerToken(request), let caller = tokens.verify(token) else {
            return errorResponse(
                RPCError(.unauthenticated, "Unauthenticated", reason: "a service token is required (Authorization: Bearer svc.<service>.<mac>)"),
                status: .unauthorized)
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            return errorResponse(.invalidRequest("the request body is \(length) bytes; the limit is \(limit)"), status: .contentTooLarge)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            return errorResponse(.invalidRequest("the request body exceeds the limit of \(limit) bytes"), status: .contentTooLarge)
        } catch {
            return errorResponse(.invalidRequest("the request body could not be read: \(error)"), status: .badRequest)
        }
        var deadline: ContinuousClock.Instant?
        if let header = request.headers[Self.timeoutField], let milliseconds = Int64(header), milliseconds > 0 {
            deadline = .now + .milliseconds(milliseconds)
        }
        var logger = logger
        logger[metadataKey: "caller"] = "\(caller.rawValue)"
        let answer = await dispatcher.respond(
            to: Data(buffer: body), context: RPCCallContext(caller: caller.rawValue, logger: logger, deadline: deadline))
        guard let answer else { return Response(status: .noContent) }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(data: answer)))
    }

    static let timeoutField = HTTPField.Name(RPCHeader.timeout)!

    /// A JSON-RPC error answered at the HTTP level (before any request id is known).
    private func errorResponse(_ error: RPCError, status: HTTPResponse.Status) -> Response {
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
        return HTTPHelpers.json(Envelope(error: error), status: status)
    }
}
