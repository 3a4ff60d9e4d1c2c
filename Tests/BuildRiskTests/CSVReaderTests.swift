import Foundation
import SourceValidatorCore
import Testing

/// The build-source CSV reader reads a file in chunks; what a user writes must read the same
/// wherever a chunk happens to end.
struct CSVReaderTests {
    func read(_ text: String, chunkSize: Int) throws -> (records: [String], error: String?) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString).csv").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var reader = CSVReader(path: path, chunkSize: chunkSize).makeIterator()
        var records: [String] = []
        while let record = reader.next() { records.append("\(record.line):\(record.fields.joined(separator: "|"))") }
        return (records, reader.error?.description)
    }

    @Test func recordsAndErrorsAreTheSameWhereverAChunkEnds() throws {
        let cases: [(String, [String], String?)] = [
            ("\u{FEFF}a,b\r\nc,\"d, \"\"e\"\"\"\r\n\r\nf,\"g\nh\"\ni,j", ["1:a|b", "2:c|d, \"e\"", "4:f|g\nh", "6:i|j"], nil),
            ("a,b\rc,d\r\re,f\n", ["1:a|b", "2:c|d", "4:e|f"], nil),
            ("a,\"\"\n\"\"\n", ["1:a|", "2:"], nil),
            ("a,b\nc\"d,e\n", ["1:a|b"], "line 2: a quote inside an unquoted field (quote the whole field and double inner quotes)"),
            ("a,b\n\"c\"d,e\n", ["1:a|b"], "line 2: text after a closing quote"),
            ("a,b\n\"c,\nd\n", ["1:a|b"], "line 2: the file ends inside a quoted field"),
            ("\u{FEFF}", [], nil),
        ]
        for (text, records, error) in cases {
            for chunkSize in [1, 2, 3, 5, 1 << 16] {
                let result = try read(text, chunkSize: chunkSize)
                #expect(result.records == records, "\(text.debugDescription) in chunks of \(chunkSize)")
                #expect(result.error == error, "\(text.debugDescription) in chunks of \(chunkSize)")
            }
        }
    }
}
