import Foundation

/// What the emulated scanner submits: the project and the measures it computed from the sources.
/// (The real scanner uploads a protobuf report that the server's Compute Engine turns into measures;
/// the emulator computes them on the scanner's side instead, and the server only stores them.)
public struct SonarAnalysisReport: Codable, Sendable {
    public var projectKey: String
    public var projectName: String
    /// `sonar.analysis.*` properties, echoed in the webhook's `properties`.
    public var properties: [String: String]
    public var measures: [String: Double]

    public init(projectKey: String, projectName: String, properties: [String: String], measures: [String: Double]) {
        self.projectKey = projectKey
        self.projectName = projectName
        self.properties = properties
        self.measures = measures
    }
}

/// Measures of a source tree by plain textual proxies: lines and comment lines by each language's
/// comment markers, complexity as functions plus decision points, duplication as repeated
/// substantial lines, smells, bugs and vulnerabilities by a handful of patterns. Enough for numbers
/// that move with the code, not SonarQube's analysers.
public enum SonarSourceAnalysis {
    static let hashComments: Set<String> = ["py", "rb", "sh", "yml", "yaml", "pl", "r"]
    static let slashComments: Set<String> = ["swift", "go", "js", "jsx", "ts", "tsx", "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs", "rs", "php", "scala", "m"]
    static let decisions = ["if ", "if(", "for ", "for(", "while ", "while(", "case ", "catch", "guard ", "elif ", "except", "&&", "||", "?? ", " ? "]
    static let functionStarts = ["func ", "def ", "function ", "fn ", "fun "]

    /// Measures of every source file under `directory` in `sources` (paths relative to it; `["."]` for all).
    public static func analyse(directory: String, sources: [String] = ["."]) -> [String: Double] {
        var files: [(path: String, ext: String)] = []
        let fileManager = FileManager.default
        for source in sources {
            let base = source == "." ? directory : directory + "/" + source
            guard let walker = fileManager.enumerator(atPath: base) else { continue }
            while let relative = walker.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                var isDirectory: ObjCBool = false
                _ = fileManager.fileExists(atPath: base + "/" + relative, isDirectory: &isDirectory)
                if isDirectory.boolValue {
                    if name.hasPrefix(".") || name == "node_modules" || name == "vendor" || name == "build" { walker.skipDescendants() }
                    continue
                }
                let ext = (name as NSString).pathExtension.lowercased()
                if hashComments.contains(ext) || slashComments.contains(ext) { files.append((base + "/" + relative, ext)) }
            }
        }
        var totals: [String: Double] = [:]
        var lineCounts: [String: Int] = [:]
        func add(_ key: String, _ value: Double) { totals[key, default: 0] += value }
        let longLine = 120
        let bugPatterns = [#"catch\s*(\([^)]*\))?\s*\{\s*\}"#, #"except[^:\n]*:\s*pass\b"#].map { try! NSRegularExpression(pattern: $0) }
        let vulnerabilityPatterns = [#"\beval\("#, #"(?i)password\s*=\s*["'][^"']+["']"#].map { try! NSRegularExpression(pattern: $0) }
        for file in files {
            guard let text = try? String(contentsOfFile: file.path, encoding: .utf8) else { continue }
            add("files", 1)
            let hash = hashComments.contains(file.ext)
            var inBlock = false
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if text.hasSuffix("\n") { lines.removeLast() }
            add("lines", Double(lines.count))
            for raw in lines {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty { continue }
                var comment = false
                if hash {
                    comment = line.hasPrefix("#")
                } else if inBlock {
                    comment = true
                    if line.contains("*/") { inBlock = false }
                } else if line.hasPrefix("//") {
                    comment = true
                } else if line.hasPrefix("/*") {
                    comment = true
                    inBlock = !line.contains("*/")
                }
                if comment {
                    add("comment_lines", 1)
                    if line.contains("TODO") || line.contains("FIXME") { add("code_smells", 1) }
                    continue
                }
                add("ncloc", 1)
                if raw.count > longLine { add("code_smells", 1) }
                let functions = functionStarts.contains { line.hasPrefix($0) || line.contains(" " + $0) } ? 1.0 : 0
                add("functions", functions)
                let points = decisions.reduce(0) { $0 + line.components(separatedBy: $1).count - 1 }
                add("complexity", functions + Double(points))
                let depth = (raw.prefix { $0 == " " || $0 == "\t" }.count) / 4
                add("cognitive_complexity", Double(points * (1 + depth)))
                if line.count >= 20 { lineCounts[line, default: 0] += 1 }
            }
            let range = NSRange(location: 0, length: text.utf16.count)
            add("bugs", Double(bugPatterns.reduce(0) { $0 + $1.numberOfMatches(in: text, range: range) }))
            add("vulnerabilities", Double(vulnerabilityPatterns.reduce(0) { $0 + $1.numberOfMatches(in: text, range: range) }))
            add("security_hotspots", Double(text.components(separatedBy: "http://").count - 1))
        }
        for key in ["files", "lines", "ncloc", "comment_lines", "functions", "complexity", "cognitive_complexity", "code_smells", "bugs", "vulnerabilities", "security_hotspots"] {
            totals[key] = totals[key] ?? 0
        }
        let duplicated = lineCounts.values.filter { $0 > 1 }.reduce(0, +)
        let lines = totals["lines"] ?? 0
        let ncloc = totals["ncloc"] ?? 0
        let commentLines = totals["comment_lines"] ?? 0
        totals["duplicated_lines"] = Double(duplicated)
        totals["duplicated_lines_density"] = lines > 0 ? Double(duplicated) / lines * 100 : 0
        totals["comment_lines_density"] = ncloc + commentLines > 0 ? commentLines / (ncloc + commentLines) * 100 : 0
        // No test report reaches the emulator: nothing is covered, as SonarQube shows for such a project.
        totals["coverage"] = 0
        // SonarQube's defaults: 5 minutes of debt per smell here; the rating grades debt against
        // 30 minutes per line of code (A ≤ 5 %, B ≤ 10 %, C ≤ 20 %, D ≤ 50 %, else E).
        let debt = (totals["code_smells"] ?? 0) * 5
        totals["sqale_index"] = debt
        let ratio = ncloc > 0 ? debt / (ncloc * 30) : 0
        totals["sqale_rating"] = ratio <= 0.05 ? 1 : ratio <= 0.1 ? 2 : ratio <= 0.2 ? 3 : ratio <= 0.5 ? 4 : 5
        totals["reliability_rating"] = (totals["bugs"] ?? 0) == 0 ? 1 : 3
        totals["security_rating"] = (totals["vulnerabilities"] ?? 0) == 0 ? 1 : 4
        return totals
    }

    /// Measures that SonarQube reports with one decimal; the rest are whole numbers.
    static let decimalMetrics: Set<String> = [
        "coverage", "duplicated_lines_density", "comment_lines_density", "sqale_rating", "reliability_rating", "security_rating",
    ]

    /// A measure's value as SonarQube writes it in `api/measures/component`: always a string.
    public static func format(_ metric: String, _ value: Double) -> String {
        decimalMetrics.contains(metric) ? String(format: "%.1f", value) : String(Int(value.rounded()))
    }
}
