/// A feature's value; `null` when the feature is defined but has nothing to say (no earlier build).
public enum FeatureValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case null
    case integer(Int)
    case number(Double)
    case boolean(Bool)
    case string(String)
    case stringList([String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .boolean(value) }
        else if let value = try? container.decode(Int.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else { self = .stringList(try container.decode([String].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .boolean(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .stringList(let value): try container.encode(value)
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .boolean(let value): "\(value)"
        case .string(let value): value
        case .stringList(let value): value.joined(separator: "#")
        }
    }

    public var int: Int? { if case .integer(let value) = self { value } else { nil } }
    public var double: Double? {
        switch self {
        case .number(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }
    public var bool: Bool? { if case .boolean(let value) = self { value } else { nil } }
    public var string: String? { if case .string(let value) = self { value } else { nil } }
    public var strings: [String]? { if case .stringList(let value) = self { value } else { nil } }
}
