import Foundation

/// Why a CSV file was refused: the line and the reason.
public struct CSVError: Error, CustomStringConvertible, Equatable {
    public var line: Int
    public var reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// Reads RFC 4180 CSV from a file as a stream of records, without loading the file: a UTF-8 BOM,
/// quoted fields with `""` escapes and embedded separators or line breaks, CRLF, LF or CR line
/// ends, blank lines skipped. Each record comes with the line it started on.
///
/// A byte-level state machine over 64 KiB reads: a quote, a separator or a line end split across
/// two reads is handled by the state, not by looking ahead.
public struct CSVReader: Sequence {
    let path: String
    let chunkSize: Int

    public init(path: String, chunkSize: Int = 1 << 16) {
        self.path = path
        self.chunkSize = Swift.max(chunkSize, 1)
    }

    public func makeIterator() -> Iterator {
        Iterator(handle: FileHandle(forReadingAtPath: path), chunkSize: chunkSize)
    }

    public struct Iterator: IteratorProtocol {
        private enum State {
            /// At the start of a field, nothing read yet.
            case fieldStart
            case unquoted
            case quoted
            /// A quote inside a quoted field: a second quote is a literal one, anything else ends the quotes.
            case quoteInQuoted
            /// After a field's closing quote: only a separator or a line end may follow.
            case afterQuoted
        }

        let handle: FileHandle?
        let chunkSize: Int
        private var buffer: [UInt8] = []
        private var position = 0
        private var finished = false
        private var first = true
        /// The line the next byte is on.
        private var line = 1
        /// The previous record ended with CR: a LF right after belongs to it.
        private var skipLineFeed = false
        /// Set when the file ended inside a quoted field, held a stray quote, or could not be opened.
        public private(set) var error: CSVError?

        init(handle: FileHandle?, chunkSize: Int) {
            self.handle = handle
            self.chunkSize = chunkSize
            if handle == nil { error = CSVError(line: 0, reason: "the file could not be opened") }
        }

        /// Reads the next chunk into the buffer; false at the end of the file.
        private mutating func refill() -> Bool {
            guard !finished, let handle else { return false }
            let data = handle.readData(ofLength: chunkSize)
            if data.isEmpty {
                finished = true
                return false
            }
            buffer.removeAll(keepingCapacity: true)
            buffer.append(contentsOf: data)
            position = 0
            if first {
                first = false
                // The BOM may be longer than a read.
                while buffer.count < 3 {
                    let more = handle.readData(ofLength: chunkSize)
                    if more.isEmpty { break }
                    buffer.append(contentsOf: more)
                }
                if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
                if position >= buffer.count { return refill() }
            }
            return true
        }

        /// The next non-blank record and the line it starts on.
        public mutating func next() -> (line: Int, fields: [String])? {
            guard error == nil else { return nil }
            var fields: [String] = []
            var field: [UInt8] = []
            var state = State.fieldStart
            var start = line
            var sawAnything = false
            let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
            while true {
                if position >= buffer.count, !refill() {
                    // End of file.
                    switch state {
                    case .quoted:
                        error = CSVError(line: start, reason: "the file ends inside a quoted field")
                        return nil
                    default:
                        if !sawAnything { return nil }
                        fields.append(String(decoding: field, as: UTF8.self))
                        return (start, fields)
                    }
                }
                if skipLineFeed {
                    skipLineFeed = false
                    if buffer[position] == lf {
                        position += 1
                        continue
                    }
                }
                // Scan the buffered bytes; leave the loop with a finished record or an empty buffer.
                var index = position, currentLine = line, skip = false
                let outcome: (record: Bool, failure: String?) = buffer.withUnsafeBufferPointer { bytes in
                    while index < bytes.count {
                        let byte = bytes[index]
                        index += 1
                        switch state {
                        case .quoted:
                            if byte == quote {
                                state = .quoteInQuoted
                            } else {
                                if byte == lf { currentLine += 1 }
                                field.append(byte)
                            }
                            continue
                        case .quoteInQuoted:
                            if byte == quote {
                                field.append(quote)
                                state = .quoted
                                continue
                            }
                            state = .afterQuoted
                        case .fieldStart, .unquoted, .afterQuoted:
                            break
                        }
                        sawAnything = true
                        switch byte {
                        case comma:
                            fields.append(String(decoding: field, as: UTF8.self))
                            field.removeAll(keepingCapacity: true)
                            state = .fieldStart
                        case cr, lf:
                            currentLine += 1
                            if byte == cr { skip = true }
                            if fields.isEmpty, field.isEmpty, state == .fieldStart {
                                // A blank line: skip it.
                                sawAnything = false
                                start = currentLine
                                if byte == cr, index < bytes.count {
                                    skip = false
                                    if bytes[index] == lf { index += 1 }
                                }
                                continue
                            }
                            fields.append(String(decoding: field, as: UTF8.self))
                            if byte == cr, index < bytes.count {
                                skip = false
                                if bytes[index] == lf { index += 1 }
                            }
                            return (true, nil)
                        case quote:
                            if state == .fieldStart {
                                state = .quoted
                            } else if state == .afterQuoted {
                                return (false, "text after a closing quote")
                            } else {
                                return (false, "a quote inside an unquoted field (quote the whole field and double inner quotes)")
                            }
                        default:
                            if state == .afterQuoted { return (false, "text after a closing quote") }
                            field.append(byte)
                            state = .unquoted
                        }
                    }
                    return (false, nil)
                }
                position = index
                line = currentLine
                skipLineFeed = skip
                if let failure = outcome.failure {
                    error = CSVError(line: line, reason: failure)
                    return nil
                }
                if outcome.record { return (start, fields) }
            }
        }
    }
}
