import Foundation

struct InstalledPackage: Hashable {
    var name: String
    var version: String
}

/// The lock files and manifests the emulator reads, by file name, with Trivy's analyser type for each.
enum LockFile {
    static func type(of fileName: String) -> String? {
        switch fileName {
        case "package-lock.json": "npm"
        case "requirements.txt": "pip"
        case "go.mod": "gomod"
        case "go.sum": "gomod"
        case "Gemfile.lock": "bundler"
        case "Cargo.lock": "cargo"
        default: nil
        }
    }

    /// The packages a lock file pins; a file that cannot be read as its format has none (Trivy logs
    /// and skips such a file too).
    static func packages(fileName: String, text: String) -> [InstalledPackage] {
        var found: [InstalledPackage] = []
        switch fileName {
        case "package-lock.json":
            guard let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [] }
            // lockfileVersion 2 and 3 list "packages" by install path; version 1 nests "dependencies".
            if let packages = json["packages"] as? [String: Any] {
                for (path, value) in packages where !path.isEmpty {
                    guard let entry = value as? [String: Any], let version = entry["version"] as? String,
                        let range = path.range(of: "node_modules/", options: .backwards)
                    else { continue }
                    found.append(InstalledPackage(name: String(path[range.upperBound...]), version: version))
                }
            } else {
                func walk(_ dependencies: [String: Any]) {
                    for (name, value) in dependencies {
                        guard let entry = value as? [String: Any] else { continue }
                        if let version = entry["version"] as? String { found.append(InstalledPackage(name: name, version: version)) }
                        if let nested = entry["dependencies"] as? [String: Any] { walk(nested) }
                    }
                }
                walk(json["dependencies"] as? [String: Any] ?? [:])
            }
        case "requirements.txt":
            for line in text.split(whereSeparator: \.isNewline) {
                let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                let parts = content.components(separatedBy: "==")
                guard parts.count == 2 else { continue }
                let name = parts[0].split(separator: "[").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                let version = parts[1].split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                if !name.isEmpty, !version.isEmpty { found.append(InstalledPackage(name: name, version: version)) }
            }
        case "go.mod":
            var inRequire = false
            for raw in text.split(whereSeparator: \.isNewline) {
                let line = raw.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first?.trimmingCharacters(in: .whitespaces) ?? ""
                if line.hasPrefix("require (") { inRequire = true; continue }
                if inRequire && line == ")" { inRequire = false; continue }
                let fields = line.split(separator: " ")
                if inRequire, fields.count >= 2 {
                    found.append(InstalledPackage(name: String(fields[0]), version: String(fields[1])))
                } else if fields.count >= 3, fields[0] == "require" {
                    found.append(InstalledPackage(name: String(fields[1]), version: String(fields[2])))
                }
            }
        case "go.sum":
            for line in text.split(whereSeparator: \.isNewline) {
                let fields = line.split(separator: " ")
                guard fields.count >= 3, !fields[1].hasSuffix("/go.mod") else { continue }
                found.append(InstalledPackage(name: String(fields[0]), version: String(fields[1])))
            }
        case "Gemfile.lock":
            // Gems are the four-space-indented "name (version)" lines under a "specs:" section.
            var inSpecs = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.trimmingCharacters(in: .whitespaces) == "specs:" { inSpecs = true; continue }
                if !line.hasPrefix(" ") { inSpecs = false; continue }
                guard inSpecs, line.hasPrefix("    "), !line.hasPrefix("     ") else { continue }
                let entry = line.trimmingCharacters(in: .whitespaces)
                guard let open = entry.firstIndex(of: "("), let close = entry.lastIndex(of: ")") else { continue }
                let name = entry[..<open].trimmingCharacters(in: .whitespaces)
                let version = entry[entry.index(after: open)..<close].split(separator: "-").first.map(String.init) ?? ""
                found.append(InstalledPackage(name: name, version: version))
            }
        case "Cargo.lock":
            var name: String?
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed == "[[package]]" { name = nil; continue }
                if trimmed.hasPrefix("name = ") { name = trimmed.dropFirst(7).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                if trimmed.hasPrefix("version = "), let current = name {
                    found.append(InstalledPackage(name: current, version: trimmed.dropFirst(10).trimmingCharacters(in: CharacterSet(charactersIn: "\""))))
                    name = nil
                }
            }
        default:
            break
        }
        var seen = Set<InstalledPackage>()
        return found.filter { seen.insert($0).inserted }.sorted { ($0.name, $0.version) < ($1.name, $1.version) }
    }
}
