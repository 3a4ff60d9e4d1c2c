import Foundation

/// Why a CSV file was refused: the line and the reason.
public struct CSVError: Error, CustomStringConvertible, Equatable {
    public var line: Int
    public var reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// Reads RFC 4180 CSV from a file as a stream of records, without loading the file: a UTF-8 BOM,
/// quoted fields with `""` escapes and embedded separators or line breaks, CRLF or LF line ends,
/// blank lines skipped. Each record comes with the line it started on.
public struct CSVReader: Sequence {
    let path: String
    let chunkSize: Int

    public init(path: String, chunkSize: Int = 1 << 16) {
        self.path = path
        self.chunkSize = chunkSize
    }

    public func makeIterator() -> Iterator {
        Iterator(handle: FileHandle(forReadingAtPath: path), chunkSize: chunkSize)
    }

    public struct Iterator: IteratorProtocol {
        let handle: FileHandle?
        let chunkSize: Int
        var buffer: [UInt8] = []
        var position = 0
        var line = 1
        var finished = false
        var first = true
        /// Set when the file ended inside a quoted field, or could not be opened.
        public private(set) var error: CSVError?

        init(handle: FileHandle?, chunkSize: Int) {
            self.handle = handle
            self.chunkSize = chunkSize
            if handle == nil { error = CSVError(line: 0, reason: "the file could not be opened") }
        }

        private mutating func nextByte() -> UInt8? {
            if position >= buffer.count {
                guard !finished, let handle else { return nil }
                let data = handle.readData(ofLength: chunkSize)
                if data.isEmpty {
                    finished = true
                    return nil
                }
                buffer = Array(data)
                position = 0
                if first {
                    first = false
                    if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
                    if position >= buffer.count { return nextByte() }
                }
            }
            defer { position += 1 }
            return buffer[position]
        }

        private mutating func peekByte() -> UInt8? {
            guard let byte = nextByte() else { return nil }
            position -= 1
            return byte
        }

        /// The next non-blank record and the line it starts on.
        public mutating func next() -> (line: Int, fields: [String])? {
            guard error == nil else { return nil }
            while true {
                let start = line
                var fields: [String] = []
                var field: [UInt8] = []
                var quoted = false
                var sawAnything = false
                var fieldWasQuoted = false
                while true {
                    guard let byte = nextByte() else {
                        if quoted {
                            error = CSVError(line: start, reason: "the file ends inside a quoted field")
                            return nil
                        }
                        if !sawAnything { return nil }
                        fields.append(String(decoding: field, as: UTF8.self))
                        return (start, fields)
                    }
                    sawAnything = true
                    if quoted {
                        if byte == UInt8(ascii: "\"") {
                            if peekByte() == UInt8(ascii: "\"") {
                                _ = nextByte()
                                field.append(byte)
                            } else {
                                quoted = false
                            }
                        } else {
                            if byte == UInt8(ascii: "\n") { line += 1 }
                            field.append(byte)
                        }
                        continue
                    }
                    switch byte {
                    case UInt8(ascii: "\""):
                        if field.isEmpty && !fieldWasQuoted {
                            quoted = true
                            fieldWasQuoted = true
                        } else {
                            error = CSVError(line: line, reason: "a quote inside an unquoted field (quote the whole field and double inner quotes)")
                            return nil
                        }
                    case UInt8(ascii: ","):
                        fields.append(String(decoding: field, as: UTF8.self))
                        field = []
                        fieldWasQuoted = false
                    case UInt8(ascii: "\r"):
                        if peekByte() == UInt8(ascii: "\n") { _ = nextByte() }
                        fallthrough
                    case UInt8(ascii: "\n"):
                        line += 1
                        fields.append(String(decoding: field, as: UTF8.self))
                        if fields.count == 1 && fields[0].isEmpty && !fieldWasQuoted {
                            // A blank line: skip it.
                            fields = []
                            field = []
                            sawAnything = false
                            break
                        }
                        return (start, fields)
                    default:
                        if fieldWasQuoted {
                            error = CSVError(line: line, reason: "text after a closing quote")
                            return nil
                        }
                        field.append(byte)
                    }
                    if !sawAnything { break }
                }
            }
        }
    }
}
