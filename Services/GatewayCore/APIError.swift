import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import HTTPTypes
import Hummingbird

/// Every refusal of the public REST API: a status, a stable machine-readable code and a reason
/// for people. Mapped once, here, to the body every error answers (`{"error", "reason"}`).
public struct APIError: HTTPResponseError, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var reason: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ reason: String) {
        self.status = status
        self.code = code
        self.reason = reason
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        HTTPHelpers.error(status, code, reason)
    }

    static func badRequest(_ code: String, _ reason: String) -> APIError { APIError(.badRequest, code, reason) }
    static func notFound(_ reason: String) -> APIError { APIError(.notFound, "not_found", reason) }
    static func conflict(_ code: String, _ reason: String) -> APIError { APIError(.conflict, code, reason) }
    static func forbidden(_ reason: String) -> APIError { APIError(.forbidden, "forbidden", reason) }
    static func unauthenticated(_ reason: String) -> APIError { APIError(.unauthorized, "unauthenticated", reason) }
    /// A service behind the gateway could not do its part.
    static func unavailable(_ code: String, _ reason: String) -> APIError { APIError(.badGateway, code, reason) }
    static func invalidId(_ what: String) -> APIError { badRequest("invalid_id", "\(what) id must be an integer") }
}

/// The JSON-RPC error another service answered, nil for anything else (a transport failure).
func remoteError(_ error: any Error) -> RPCError? {
    if case RPCClientError.remote(let remote) = error { return remote }
    return nil
}

extension Request {
    /// The JSON body as `Body`, or a 400 `invalid_body` saying what was `expected` and why the body is not that.
    func decodeBody<Body: Decodable>(as type: Body.Type, context: AuthenticatedContext, expected: String) async throws -> Body {
        let body: Body
        do {
            body = try await decode(as: type, context: context)
        } catch {
            throw APIError.badRequest("invalid_body", "expected \(expected): \(error)")
        }
        return body
    }
}

extension Parameters {
    /// The query value `name` as one of `E`'s values, nil when absent; any other value is a 400
    /// `invalid_<name>` listing the values it may take.
    func value<E: ContractEnum>(_ name: String, as type: E.Type) throws -> E? {
        guard let text = get(name) else { return nil }
        guard let value = E(rawValue: text) else {
            throw APIError.badRequest("invalid_\(name)", "\(name) must be one of \(E.contractValues.joined(separator: ", ")), not '\(text)'")
        }
        return value
    }

    /// The integer query value `name`, `value` when absent; one outside `range` (or not an integer)
    /// is a 400 `invalid_<name>`.
    func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = get(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            let upper = range.upperBound == Int.max ? " or more" : " to \(range.upperBound)"
            throw APIError.badRequest("invalid_\(name)", "\(name) must be an integer \(range.lowerBound)\(upper), not '\(text)'")
        }
        return number
    }
}
