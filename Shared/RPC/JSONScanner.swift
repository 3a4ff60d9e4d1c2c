/// A validating single-pass JSON scanner (RFC 8259) that finds where values are without building
/// them. The dispatcher reads a request's envelope with it (the top-level members and where
/// `params` lies, or the members of a batch) and hands only the `params` bytes to `JSONDecoder`:
/// one full parse per call instead of two, and batch members answered without re-encoding.
struct JSONScanner {
    enum Failure: Error { case invalid }

    /// The kind of a value, by its first byte.
    enum Kind { case object, array, string, number, literal }

    struct Value {
        var kind: Kind
        var range: Range<Int>
    }

    /// A valid document: its top-level value, and the children of the containers in its first two
    /// levels (a request's members; a batch's requests and their members), found in the same pass.
    struct Document {
        let root: Value
        fileprivate let children: [Int: [(key: Value?, value: Value)]]

        /// The members of an object in the first two levels (keys unescaped), in order.
        func members(of object: Value, in bytes: UnsafeRawBufferPointer) -> [(key: String, value: Value)] {
            (children[object.range.lowerBound] ?? []).compactMap { child in
                child.key.map { (JSONScanner.string(in: $0, of: bytes), child.value) }
            }
        }

        /// The elements of an array in the first two levels, in order.
        func elements(of array: Value) -> [Value] {
            (children[array.range.lowerBound] ?? []).map(\.value)
        }
    }

    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0
    private var children: [Int: [(key: Value?, value: Value)]] = [:]
    private static let maximumDepth = 512
    /// How deep containers have their children recorded.
    private static let recordedDepth = 2

    private init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The document, or nil when the bytes are not valid JSON.
    static func scan(_ bytes: UnsafeRawBufferPointer) -> Document? {
        var scanner = JSONScanner(bytes)
        do {
            scanner.skipWhitespace()
            let value = try scanner.value()
            scanner.skipWhitespace()
            return scanner.index == bytes.count ? Document(root: value, children: scanner.children) : nil
        } catch {
            return nil
        }
    }

    /// The text of a valid string value, escapes resolved.
    static func string(in value: Value, of bytes: UnsafeRawBufferPointer) -> String {
        let inner = bytes[(value.range.lowerBound + 1)..<(value.range.upperBound - 1)]
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(inner.count)
        var index = inner.startIndex
        var pendingHigh: UInt32?
        func append(scalar: UInt32) {
            let scalar = Unicode.Scalar(scalar) ?? "\u{FFFD}"
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        while index < inner.endIndex {
            let byte = inner[index]
            guard byte == UInt8(ascii: "\\") else {
                if let high = pendingHigh { append(scalar: high); pendingHigh = nil }
                out.append(byte)
                index += 1
                continue
            }
            let escaped = inner[index + 1]
            index += 2
            if escaped == UInt8(ascii: "u") {
                let hex = String(decoding: inner[index..<(index + 4)], as: UTF8.self)
                index += 4
                let unit = UInt32(hex, radix: 16) ?? 0xFFFD
                if (0xD800...0xDBFF).contains(unit) {
                    if let high = pendingHigh { append(scalar: high) }
                    pendingHigh = unit
                } else if (0xDC00...0xDFFF).contains(unit), let high = pendingHigh {
                    append(scalar: 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00))
                    pendingHigh = nil
                } else {
                    if let high = pendingHigh { append(scalar: high); pendingHigh = nil }
                    append(scalar: unit)
                }
                continue
            }
            if let high = pendingHigh { append(scalar: high); pendingHigh = nil }
            switch escaped {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            default: out.append(escaped)  // \" \\ \/
            }
        }
        if let high = pendingHigh { append(scalar: high) }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Scanning

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8) throws {
        guard peek == byte else { throw Failure.invalid }
        index += 1
    }

    private mutating func value() throws -> Value {
        guard let first = peek else { throw Failure.invalid }
        let start = index
        switch first {
        case UInt8(ascii: "{"):
            try container(from: start, closing: UInt8(ascii: "}"), keyed: true)
            return Value(kind: .object, range: start..<index)
        case UInt8(ascii: "["):
            try container(from: start, closing: UInt8(ascii: "]"), keyed: false)
            return Value(kind: .array, range: start..<index)
        case UInt8(ascii: "\""):
            return try string()
        case UInt8(ascii: "t"):
            try literal("true")
        case UInt8(ascii: "f"):
            try literal("false")
        case UInt8(ascii: "n"):
            try literal("null")
        default:
            try number()
            return Value(kind: .number, range: start..<index)
        }
        return Value(kind: .literal, range: start..<index)
    }

    /// An object (`keyed`: `"key": value` members) or an array, from its opening bracket at
    /// `start` through `closing`; records its children.
    private mutating func container(from start: Int, closing: UInt8, keyed: Bool) throws {
        try nested { scanner in
            scanner.index += 1
            scanner.skipWhitespace()
            if scanner.peek == closing { scanner.index += 1; return }
            while true {
                scanner.skipWhitespace()
                var key: Value?
                if keyed {
                    key = try scanner.string()
                    scanner.skipWhitespace()
                    try scanner.expect(UInt8(ascii: ":"))
                    scanner.skipWhitespace()
                }
                let member = try scanner.value()
                scanner.record(key: key, member, in: start)
                scanner.skipWhitespace()
                if scanner.peek == UInt8(ascii: ",") { scanner.index += 1; continue }
                try scanner.expect(closing)
                return
            }
        }
    }

    /// Notes a child of the container starting at `container`, when that container is shallow enough.
    private mutating func record(key: Value?, _ child: Value, in container: Int) {
        guard depth <= Self.recordedDepth else { return }
        children[container, default: []].append((key, child))
    }

    private mutating func nested(_ body: (inout JSONScanner) throws -> Void) throws {
        depth += 1
        guard depth <= Self.maximumDepth else { throw Failure.invalid }
        try body(&self)
        depth -= 1
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Failure.invalid }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw Failure.invalid
        }
        index += count
    }

    private mutating func string() throws -> Value {
        let start = index
        try expect(UInt8(ascii: "\""))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return Value(kind: .string, range: start..<index)
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { throw Failure.invalid }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard index + 6 <= bytes.count else { throw Failure.invalid }
                    for offset in 2..<6 where !bytes[index + offset].isHexDigit { throw Failure.invalid }
                    index += 6
                default:
                    throw Failure.invalid
                }
            case 0x00..<0x20:
                throw Failure.invalid
            default:
                index += 1
            }
        }
        throw Failure.invalid
    }

    private mutating func number() throws {
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, first.isDigit else { throw Failure.invalid }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = peek, byte.isDigit { index += 1 }
        }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let byte = peek, byte.isDigit else { throw Failure.invalid }
            while let byte = peek, byte.isDigit { index += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek, byte.isDigit else { throw Failure.invalid }
            while let byte = peek, byte.isDigit { index += 1 }
        }
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    fileprivate var isHexDigit: Bool {
        isDigit || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f")) || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "F"))
    }
}
