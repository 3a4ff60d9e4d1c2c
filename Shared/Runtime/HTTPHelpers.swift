import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// JSON responses and bearer tokens, shared by every service's routes.
public enum HTTPHelpers {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// A JSON response with `value` as its body.
    public static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"response could not be encoded"}"#.utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }

    /// The body every REST error answers: a stable machine-readable `error` and a human `reason`.
    public struct ErrorBody: Codable, Sendable {
        public var error: String
        public var reason: String
    }

    /// A JSON error response.
    public static func error(_ status: HTTPResponse.Status, _ code: String, _ reason: String) -> Response {
        json(ErrorBody(error: code, reason: reason), status: status)
    }

    /// The token of an `Authorization: Bearer <token>` header.
    public static func bearerToken(_ request: Request) -> String? {
        bearerToken(request.headers)
    }

    /// The token of an `Authorization: Bearer <token>` field.
    public static func bearerToken(_ fields: HTTPFields) -> String? {
        // On the bytes: this runs on every RPC call, and lowercasing and trimming Strings showed in its profile.
        guard let header = fields[.authorization] else { return nil }
        let bytes = header.utf8
        let prefix = "bearer ".utf8
        guard bytes.count > prefix.count,
              zip(bytes.prefix(prefix.count), prefix).allSatisfy({ $0 | 0x20 == $1 })  // ASCII case-insensitive
        else { return nil }
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        let token = bytes.dropFirst(prefix.count).drop(while: isSpace).reversed().drop(while: isSpace).reversed()
        return token.isEmpty ? nil : String(decoding: token, as: UTF8.self)
    }
}

/// Counts every request and records its latency, labelled by route pattern (not raw path).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.recordRequest(
                method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                status: response.status.code, duration: ContinuousClock.now - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.recordRequest(
                method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                status: status, duration: ContinuousClock.now - start)
            throw error
        }
    }
}

/// Runs `work` with a time limit; throws `TimeoutError` when it runs out first.
public func withTimeout<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeoutError(limit: limit)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}

/// A time limit ran out.
public struct TimeoutError: Error, CustomStringConvertible {
    public var limit: Duration
    public var description: String { "no answer within \(limit)" }
}
