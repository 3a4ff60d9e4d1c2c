import Foundation

/// A JSON-RPC request id: a number, a string, or null.
public enum JSONRPCID: Codable, Sendable, Hashable {
    case number(Int64)
    case string(String)
    case null

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Int64.self) {
            self = .number(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}

/// The members of a request other than `params`, read without failing on wrong member types so
/// that each kind of malformed request gets its own error.
struct RequestHead: Decodable {
    enum IDState { case absent, valid(JSONRPCID), invalid }
    enum ParamsShape { case absent, object, array, invalid }

    var versionValid: Bool
    var method: String?
    var id: IDState
    var params: ParamsShape

    private enum Keys: String, CodingKey { case jsonrpc, method, id, params }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        versionValid = (try? container.decode(String.self, forKey: .jsonrpc)) == "2.0"
        method = try? container.decode(String.self, forKey: .method)
        if !container.contains(.id) {
            id = .absent
        } else if let value = try? container.decode(JSONRPCID.self, forKey: .id) {
            id = .valid(value)
        } else {
            id = .invalid
        }
        if !container.contains(.params) {
            params = .absent
        } else {
            params = (try? container.decode(ShapeProbe.self, forKey: .params))?.shape ?? .invalid
        }
    }
}

/// Tells an object from an array without building either's values.
private struct ShapeProbe: Decodable {
    var shape: RequestHead.ParamsShape

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if (try? decoder.container(keyedBy: AnyKey.self)) != nil {
            shape = .object
        } else if (try? decoder.unkeyedContainer()) != nil {
            shape = .array
        } else {
            shape = .invalid
        }
    }
}

/// The `params` member decoded as the method's params type.
struct ParamsEnvelope<Params: Decodable>: Decodable {
    var params: Params?
}

/// A successful response, decoded by the client.
struct ResponseEnvelope<Result: Decodable>: Decodable {
    var result: Result?
    var error: RPCError?
}

/// An error response as encoded by the server.
struct ErrorResponse: Encodable {
    let jsonrpc = "2.0"
    var error: RPCError
    var id: JSONRPCID
}

/// A request as encoded by the client.
struct RequestEnvelope<Params: Encodable>: Encodable {
    let jsonrpc = "2.0"
    var method: String
    var params: Params
    var id: JSONRPCID?
}

/// Request headers of the RPC transport.
public enum RPCHeader {
    /// The remaining time the caller grants the call, in milliseconds; the server stops the
    /// handler when it runs out and answers `deadline_exceeded`.
    public static let timeout = "x-rpc-timeout-ms"
}
