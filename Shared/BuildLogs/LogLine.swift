import Foundation

/// One line of a log, its content as UTF-8 bytes: after the timestamp, without ANSI escapes and line ends.
///
/// The bytes point into the text being scanned and are valid only during the `LogScanner` callback; matching
/// works on bytes so that a 50 MB log is read once without making a `String` per line.
struct LogLine {
    let bytes: UnsafeBufferPointer<UInt8>

    var isEmpty: Bool { bytes.isEmpty }
    var first: UInt8? { bytes.first }
    var count: Int { bytes.count }

    /// The whole line as text (invalid UTF-8 is repaired, never rejected).
    var string: String { String(decoding: bytes, as: UTF8.self) }

    func hasPrefix(_ prefix: StaticString) -> Bool {
        let length = prefix.utf8CodeUnitCount
        guard length <= bytes.count, let base = bytes.baseAddress else { return length == 0 }
        return memcmp(base, prefix.utf8Start, length) == 0
    }

    func hasSuffix(_ suffix: StaticString) -> Bool {
        let length = suffix.utf8CodeUnitCount
        guard length <= bytes.count, let base = bytes.baseAddress else { return length == 0 }
        return memcmp(base + (bytes.count - length), suffix.utf8Start, length) == 0
    }

    /// The offset of the first occurrence of `needle`, if any.
    func firstOffset(of needle: StaticString) -> Int? {
        let length = needle.utf8CodeUnitCount
        guard length > 0, length <= bytes.count, let base = bytes.baseAddress else { return nil }
        let head = needle.utf8Start.pointee
        var offset = 0
        while offset <= bytes.count - length {
            guard let hit = memchr(base + offset, Int32(head), bytes.count - length - offset + 1) else { return nil }
            let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + at, needle.utf8Start, length) == 0 { return at }
            offset = at + 1
        }
        return nil
    }

    /// The offset of the last occurrence of `needle`, if any.
    func lastOffset(of needle: StaticString) -> Int? {
        let length = needle.utf8CodeUnitCount
        guard length > 0, length <= bytes.count, let base = bytes.baseAddress else { return nil }
        for at in stride(from: bytes.count - length, through: 0, by: -1) where memcmp(base + at, needle.utf8Start, length) == 0 {
            return at
        }
        return nil
    }

    func contains(_ needle: StaticString) -> Bool { firstOffset(of: needle) != nil }

    func prefix(_ count: Int) -> LogLine {
        LogLine(bytes: UnsafeBufferPointer(rebasing: bytes[..<min(max(0, count), bytes.count)]))
    }

    /// Without the given ASCII bytes at either end (`trimming("= ")` turns a pytest bar into its text).
    func trimming(_ characters: StaticString) -> LogLine {
        let set = UnsafeBufferPointer(start: characters.utf8Start, count: characters.utf8CodeUnitCount)
        var start = 0, end = bytes.count
        while start < end, set.contains(bytes[start]) { start += 1 }
        while end > start, set.contains(bytes[end - 1]) { end -= 1 }
        return LogLine(bytes: UnsafeBufferPointer(rebasing: bytes[start..<end]))
    }

    func dropFirst(_ count: Int) -> LogLine {
        LogLine(bytes: UnsafeBufferPointer(rebasing: bytes[min(count, bytes.count)...]))
    }

    /// Spaces and tabs before the first other byte.
    var indentation: Int {
        var count = 0
        while count < bytes.count, bytes[count] == UInt8(ascii: " ") || bytes[count] == UInt8(ascii: "\t") { count += 1 }
        return count
    }

    var trimmingLeadingWhitespace: LogLine { dropFirst(indentation) }

    var startsWithDigit: Bool { first.map { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ?? false }
}

extension StringProtocol {
    /// Without spaces and tabs at either end; Foundation's `trimmingCharacters(in:)` costs microseconds per call on Linux.
    var trimmed: SubSequence {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return self[endIndex...] }
        return self[first...last]
    }
}

/// Splits GitHub Actions log text into lines: strips the UTF-8 byte-order mark GitHub writes at the start of each
/// log file, CR before LF, the `2024-03-05T10:11:12.1234567Z ` timestamp and ANSI escape sequences.
enum LogScanner {
    /// Calls `body` with each line's timestamp (seconds since 1970, nil when the line has none) and content.
    static func forEachLine(in text: String, _ body: (Double?, LogLine) -> Void) {
        var text = text
        text.withUTF8 { all in
            guard let base = all.baseAddress else { return }
            var start = all.count >= 3 && all[0] == 0xEF && all[1] == 0xBB && all[2] == 0xBF ? 3 : 0
            var scratch: [UInt8] = []
            while start < all.count {
                let end = memchr(base + start, 0x0A, all.count - start).map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? all.count
                var stop = end
                if stop > start, all[stop - 1] == 0x0D { stop -= 1 }
                var line = UnsafeBufferPointer(rebasing: all[start..<stop])
                let stamp = timestamp(line)
                if let stamp { line = UnsafeBufferPointer(rebasing: line[(line.startIndex + stamp.length)...]) }
                if let lineBase = line.baseAddress, memchr(lineBase, 0x1B, line.count) != nil {
                    stripANSI(line, into: &scratch)
                    scratch.withUnsafeBufferPointer { body(stamp?.seconds, LogLine(bytes: $0)) }
                } else {
                    body(stamp?.seconds, LogLine(bytes: line))
                }
                start = end + 1
            }
        }
    }

    /// Removes CSI sequences (`ESC [ params final`, colours and cursor moves) and two-byte escapes (`ESC x`).
    static func stripANSI(_ line: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        output.removeAll(keepingCapacity: true)
        var index = 0
        while index < line.count {
            let byte = line[index]
            guard byte == 0x1B else {
                output.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < line.count else { break }
            if line[index] == UInt8(ascii: "[") {
                index += 1
                while index < line.count, !(0x40...0x7E).contains(line[index]) { index += 1 }
            }
            index += 1
        }
    }

    /// GitHub's line timestamp (`YYYY-MM-DDTHH:MM:SS.fffffffZ` and one space); any number of fraction digits is accepted.
    static func timestamp(_ line: UnsafeBufferPointer<UInt8>) -> (seconds: Double, length: Int)? {
        guard line.count >= 20,
              line[line.startIndex + 4] == UInt8(ascii: "-"), line[line.startIndex + 10] == UInt8(ascii: "T") else { return nil }
        func digits(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for offset in from..<(from + count) {
                let byte = line[line.startIndex + offset]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard line[line.startIndex + 7] == UInt8(ascii: "-"), line[line.startIndex + 13] == UInt8(ascii: ":"), line[line.startIndex + 16] == UInt8(ascii: ":"),
              let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
              let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var fraction = 0.0
        if line[line.startIndex + index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            while index < line.count, let digit = digits(index, 1) {
                fraction += Double(digit) * scale
                scale /= 10
                index += 1
            }
        }
        guard index < line.count, line[line.startIndex + index] == UInt8(ascii: "Z") else { return nil }
        index += 1
        if index < line.count, line[line.startIndex + index] == UInt8(ascii: " ") { index += 1 }
        let seconds = Double(daysSince1970(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second) + fraction
        return (seconds, index)
    }

    /// Howard Hinnant's days_from_civil (proleptic Gregorian calendar).
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
