/// Why a JSON-RPC call failed, carried in `error.data.kind`.
public enum RPCErrorKind: String, Codable, Sendable, CaseIterable {
    // JSON-RPC 2.0's own errors.
    case parseError = "parse_error"
    case invalidRequest = "invalid_request"
    case methodNotFound = "method_not_found"
    case invalidParams = "invalid_params"
    case internalError = "internal"
    // Application errors.
    case unauthenticated
    case forbidden
    case notFound = "not_found"
    case conflict
    case invalidInput = "invalid_input"
    case deadlineExceeded = "deadline_exceeded"
    case unavailable

    /// The JSON-RPC `error.code`: the specification's codes for its own errors, and codes
    /// outside its reserved range (-32768…-32000) for the application's.
    public var code: Int {
        switch self {
        case .parseError: -32700
        case .invalidRequest: -32600
        case .methodNotFound: -32601
        case .invalidParams: -32602
        case .internalError: -32603
        case .unauthenticated: 1401
        case .forbidden: 1403
        case .notFound: 1404
        case .deadlineExceeded: 1408
        case .conflict: 1409
        case .invalidInput: 1422
        case .unavailable: 1503
        }
    }

    /// Whether the same call may succeed when tried again later.
    public var defaultRetryable: Bool {
        switch self {
        case .internalError, .deadlineExceeded, .unavailable: true
        default: false
        }
    }
}

/// The `error.data` member of every error BuildRisk answers.
public struct RPCErrorData: Codable, Sendable, Equatable {
    public var kind: RPCErrorKind
    public var retryable: Bool
    /// A human-readable detail (which field, which limit) beyond `message`.
    public var reason: String?

    public init(kind: RPCErrorKind, retryable: Bool, reason: String? = nil) {
        self.kind = kind
        self.retryable = retryable
        self.reason = reason
    }
}

/// A JSON-RPC error object; thrown by handlers and answered to the caller as is.
public struct RPCError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: RPCErrorData?

    public init(code: Int, message: String, data: RPCErrorData?) {
        self.code = code
        self.message = message
        self.data = data
    }

    public init(_ kind: RPCErrorKind, _ message: String, reason: String? = nil, retryable: Bool? = nil) {
        self.code = kind.code
        self.message = message
        self.data = RPCErrorData(kind: kind, retryable: retryable ?? kind.defaultRetryable, reason: reason)
    }

    public var kind: RPCErrorKind? { data?.kind }
    public var retryable: Bool { data?.retryable ?? false }
    public var description: String {
        "RPC error \(code) (\(data?.kind.rawValue ?? "?")): \(message)\(data?.reason.map { ": \($0)" } ?? "")"
    }

    public static let parseError = RPCError(.parseError, "Parse error", reason: "the body is not valid JSON")
    public static func invalidRequest(_ reason: String) -> RPCError { RPCError(.invalidRequest, "Invalid Request", reason: reason) }
    public static func methodNotFound(_ name: String) -> RPCError {
        RPCError(.methodNotFound, "Method not found", reason: "no method named '\(name)'")
    }
    public static func invalidParams(_ reason: String) -> RPCError { RPCError(.invalidParams, "Invalid params", reason: reason) }
    public static func internalError(_ reason: String) -> RPCError { RPCError(.internalError, "Internal error", reason: reason) }
}
