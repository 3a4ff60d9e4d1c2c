import BuildRiskContracts
import Foundation

/// Derives a JSON Schema from a `Decodable` type by decoding it with a recording decoder, so
/// the OpenRPC documents follow the Swift contract types without a hand-written copy.
public enum SchemaProbe {
    /// The JSON Schema of `type`.
    public static func schema(of type: any Decodable.Type) -> JSONValue {
        let node = ProbeNode()
        _ = try? ProbeDecoder(node: node).decodeValue(type)
        return node.jsonSchema()
    }

    /// The top-level properties of an object type: name, whether required, schema.
    public static func properties(of type: any Decodable.Type) -> [(name: String, required: Bool, schema: JSONValue)] {
        let node = ProbeNode()
        _ = try? ProbeDecoder(node: node).decodeValue(type)
        return node.properties.map { ($0.name, $0.required, $0.node.jsonSchema()) }
    }
}

final class ProbeNode {
    enum Kind {
        case unknown, string, integer, number, boolean, dateTime
        case enumeration([String])
        case object
        case array(ProbeNode)
        case map(ProbeNode)
        case any
    }
    var kind: Kind = .unknown
    var title: String?
    var properties: [(name: String, required: Bool, node: ProbeNode)] = []

    func property(_ name: String, required: Bool) -> ProbeNode {
        if let existing = properties.first(where: { $0.name == name }) { return existing.node }
        let node = ProbeNode()
        properties.append((name, required, node))
        return node
    }

    func jsonSchema() -> JSONValue {
        var schema: [String: JSONValue] = [:]
        switch kind {
        case .unknown, .any: break
        case .string: schema["type"] = .string("string")
        case .integer: schema["type"] = .string("integer")
        case .number: schema["type"] = .string("number")
        case .boolean: schema["type"] = .string("boolean")
        case .dateTime:
            schema["type"] = .string("string")
            schema["format"] = .string("date-time")
        case .enumeration(let values):
            schema["type"] = .string("string")
            schema["enum"] = .array(values.map { .string($0) })
        case .object:
            schema["type"] = .string("object")
            schema["properties"] = .object(Dictionary(uniqueKeysWithValues: properties.map { ($0.name, $0.node.jsonSchema()) }))
            schema["required"] = .array(properties.filter(\.required).map { .string($0.name) })
            schema["additionalProperties"] = .bool(false)
        case .array(let items):
            schema["type"] = .string("array")
            schema["items"] = items.jsonSchema()
        case .map(let values):
            schema["type"] = .string("object")
            schema["additionalProperties"] = values.jsonSchema()
        }
        if let title { schema["title"] = .string(title) }
        return .object(schema)
    }
}

/// Dictionaries with string keys and arrays are described by their element type.
protocol ProbeContainerType {
    static var probeElementType: any Decodable.Type { get }
    static var probeEmpty: Self { get }
}
extension Dictionary: ProbeContainerType where Key == String, Value: Decodable {
    static var probeElementType: any Decodable.Type { Value.self }
    static var probeEmpty: Self { [:] }
}
protocol ProbeArrayType {
    static var probeElementType: any Decodable.Type { get }
    static var probeEmpty: Self { get }
}
extension Array: ProbeArrayType where Element: Decodable {
    static var probeElementType: any Decodable.Type { Element.self }
    static var probeEmpty: Self { [] }
}

struct ProbeFailure: Error {}

struct ProbeDecoder: Decoder {
    let node: ProbeNode
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Decodes `type`, recording its schema into `node`; containers and enums get sample values.
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if type == Date.self {
            node.kind = .dateTime
            return try cast(Date(timeIntervalSince1970: 0))
        }
        if let enumType = type as? any ContractEnum.Type {
            node.kind = .enumeration(enumType.contractValues)
            return try sample(of: enumType)
        }
        if let map = type as? any ProbeContainerType.Type {
            let values = ProbeNode()
            _ = try? ProbeDecoder(node: values).decodeValue(map.probeElementType)
            node.kind = .map(values)
            return try cast(map.probeEmpty)
        }
        if let array = type as? any ProbeArrayType.Type {
            let items = ProbeNode()
            _ = try? ProbeDecoder(node: items).decodeValue(array.probeElementType)
            node.kind = .array(items)
            return try cast(array.probeEmpty)
        }
        if type == JSONValue.self {
            node.kind = .any
            return try cast(JSONValue.null)
        }
        if node.title == nil, !(type is any Numeric.Type), type != String.self, type != Bool.self {
            node.title = String(describing: type)
        }
        return try T(from: self)
    }

    private func sample<E: ContractEnum, T>(of type: E.Type) throws -> T {
        guard let value = type.contractSample else { throw ProbeFailure() }
        return try cast(value)
    }

    private func cast<T>(_ value: Any) throws -> T {
        guard let typed = value as? T else { throw ProbeFailure() }
        return typed
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        node.kind = .object
        return KeyedDecodingContainer(KeyedProbe<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let items = ProbeNode()
        node.kind = .array(items)
        return UnkeyedProbe(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleProbe(node: node, codingPath: codingPath)
    }
}

struct KeyedProbe<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let node: ProbeNode
    var codingPath: [any CodingKey]
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { true }
    func decodeNil(forKey key: Key) throws -> Bool { false }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try ProbeDecoder(node: node.property(key.stringValue, required: true), codingPath: codingPath + [key]).decodeValue(type)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try ProbeDecoder(node: node.property(key.stringValue, required: false), codingPath: codingPath + [key]).decodeValue(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let child = node.property(key.stringValue, required: true)
        child.kind = .object
        return KeyedDecodingContainer(KeyedProbe<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let child = node.property(key.stringValue, required: true)
        let items = ProbeNode()
        child.kind = .array(items)
        return UnkeyedProbe(items: items, codingPath: codingPath + [key])
    }

    func superDecoder() throws -> any Decoder { ProbeDecoder(node: node, codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        ProbeDecoder(node: node.property(key.stringValue, required: true), codingPath: codingPath + [key])
    }
}

struct UnkeyedProbe: UnkeyedDecodingContainer {
    let items: ProbeNode
    var codingPath: [any CodingKey]
    var count: Int? { 0 }
    var isAtEnd: Bool { true }
    var currentIndex: Int { 0 }

    mutating func decodeNil() throws -> Bool { false }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try ProbeDecoder(node: items, codingPath: codingPath).decodeValue(type)
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        items.kind = .object
        return KeyedDecodingContainer(KeyedProbe<NestedKey>(node: items, codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let inner = ProbeNode()
        items.kind = .array(inner)
        return UnkeyedProbe(items: inner, codingPath: codingPath)
    }
    mutating func superDecoder() throws -> any Decoder { ProbeDecoder(node: items, codingPath: codingPath) }
}

struct SingleProbe: SingleValueDecodingContainer {
    let node: ProbeNode
    var codingPath: [any CodingKey]

    func decodeNil() -> Bool { false }
    func decode(_ type: Bool.Type) throws -> Bool { node.kind = .boolean; return false }
    func decode(_ type: String.Type) throws -> String { node.kind = .string; return "" }
    func decode(_ type: Double.Type) throws -> Double { node.kind = .number; return 0 }
    func decode(_ type: Float.Type) throws -> Float { node.kind = .number; return 0 }
    func decode(_ type: Int.Type) throws -> Int { node.kind = .integer; return 0 }
    func decode(_ type: Int8.Type) throws -> Int8 { node.kind = .integer; return 0 }
    func decode(_ type: Int16.Type) throws -> Int16 { node.kind = .integer; return 0 }
    func decode(_ type: Int32.Type) throws -> Int32 { node.kind = .integer; return 0 }
    func decode(_ type: Int64.Type) throws -> Int64 { node.kind = .integer; return 0 }
    func decode(_ type: UInt.Type) throws -> UInt { node.kind = .integer; return 0 }
    func decode(_ type: UInt8.Type) throws -> UInt8 { node.kind = .integer; return 0 }
    func decode(_ type: UInt16.Type) throws -> UInt16 { node.kind = .integer; return 0 }
    func decode(_ type: UInt32.Type) throws -> UInt32 { node.kind = .integer; return 0 }
    func decode(_ type: UInt64.Type) throws -> UInt64 { node.kind = .integer; return 0 }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try ProbeDecoder(node: node, codingPath: codingPath).decodeValue(type)
    }
}
