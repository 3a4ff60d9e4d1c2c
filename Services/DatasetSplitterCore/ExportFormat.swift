import BuildRiskContracts

/// Writes rows as CSV (RFC 4180: fields with a comma, quote, CR or LF quoted, quotes doubled,
/// lines ended by CRLF) or JSON lines (one object per build, keys in column order). A value is
/// written the same way in both, and the same as the data view shows it: null is an empty field
/// (CSV) or `null`; a list is joined by `#` in CSV (TravisTorrent's convention) and an array in
/// JSON; a number that is not finite is written as null.
enum ExportFormat {
    static func header(_ columns: [DatasetColumn], format: DatasetExportFormat) -> String {
        switch format {
        case .csv: columns.map { csvField($0.name) }.joined(separator: ",") + "\r\n"
        case .jsonl: ""
        }
    }

    static func line(_ values: [FeatureValue], columns: [DatasetColumn], format: DatasetExportFormat, into text: inout String) {
        switch format {
        case .csv:
            for (index, value) in values.enumerated() {
                if index > 0 { text += "," }
                text += csvField(csvText(value))
            }
            text += "\r\n"
        case .jsonl:
            text += "{"
            for (index, value) in values.enumerated() {
                if index > 0 { text += "," }
                jsonString(columns[index].name, into: &text)
                text += ":"
                json(value, into: &text)
            }
            text += "}\n"
        }
    }

    static func csvText(_ value: FeatureValue) -> String {
        switch value {
        case .null: ""
        case .integer(let value): String(value)
        case .number(let value): value.isFinite ? "\(value)" : ""
        case .boolean(let value): value ? "true" : "false"
        case .string(let value): value
        case .stringList(let value): value.joined(separator: "#")
        }
    }

    static func csvField(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func json(_ value: FeatureValue, into text: inout String) {
        switch value {
        case .null: text += "null"
        case .integer(let value): text += String(value)
        case .number(let value): text += value.isFinite ? "\(value)" : "null"
        case .boolean(let value): text += value ? "true" : "false"
        case .string(let value): jsonString(value, into: &text)
        case .stringList(let values):
            text += "["
            for (index, value) in values.enumerated() {
                if index > 0 { text += "," }
                jsonString(value, into: &text)
            }
            text += "]"
        }
    }

    static func jsonString(_ value: String, into text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}
