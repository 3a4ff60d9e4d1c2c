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

/// A request's envelope as ``JSONScanner`` found it, read without failing on wrong member types so
/// that each kind of malformed request gets its own error.
struct Envelope: Sendable {
    enum IDState: Sendable { case absent, valid(JSONRPCID), invalid }
    enum ParamsShape: Sendable { case absent, object, array, invalid }

    var versionValid = false
    var method: String?
    var id = IDState.absent
    var params = ParamsShape.absent
    /// The bytes of `params` when it is an object.
    var paramsBytes: Data?

    /// Nil when `value` is not an object.
    init?(_ value: JSONScanner.Value, of document: JSONScanner.Document, in raw: UnsafeRawBufferPointer) {
        guard value.kind == .object else { return nil }
        for (key, member) in document.members(of: value, in: raw) {
            switch key {
            case "jsonrpc":
                versionValid = member.kind == .string && JSONScanner.string(in: member, of: raw) == "2.0"
            case "method":
                method = member.kind == .string ? JSONScanner.string(in: member, of: raw) : nil
            case "id":
                switch member.kind {
                case .string:
                    id = .valid(.string(JSONScanner.string(in: member, of: raw)))
                case .number:
                    id = Int64(String(decoding: raw[member.range], as: UTF8.self)).map { .valid(.number($0)) } ?? .invalid
                case .literal where raw[member.range.lowerBound] == UInt8(ascii: "n"):
                    id = .valid(.null)
                default:
                    id = .invalid
                }
            case "params":
                switch member.kind {
                case .object:
                    params = .object
                    paramsBytes = Data(raw[member.range])
                case .array:
                    params = .array
                default:
                    params = .invalid
                }
            default:
                break
            }
        }
    }
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
