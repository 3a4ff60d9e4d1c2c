import Foundation

/// A secret rule, named and rated as in Trivy's built-in rules.
struct SecretRule {
    var id: String
    var category: String
    var title: String
    var severity: String
    var pattern: NSRegularExpression

    init(_ id: String, _ category: String, _ title: String, _ severity: String, _ pattern: String) {
        self.id = id
        self.category = category
        self.title = title
        self.severity = severity
        self.pattern = try! NSRegularExpression(pattern: pattern)
    }
}

let secretRules = [
    SecretRule("aws-access-key-id", "AWS", "AWS Access Key ID", "CRITICAL", "(?<![A-Z0-9])(A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    SecretRule("github-pat", "GitHub", "GitHub Personal Access Token", "CRITICAL", "ghp_[0-9a-zA-Z]{36}"),
    SecretRule("github-oauth", "GitHub", "GitHub OAuth Access Token", "CRITICAL", "gho_[0-9a-zA-Z]{36}"),
    SecretRule("github-fine-grained-pat", "GitHub", "GitHub Fine-grained personal access tokens", "CRITICAL", "github_pat_[a-zA-Z0-9]{22}_[a-zA-Z0-9]{59}"),
    SecretRule("private-key", "AsymmetricPrivateKey", "Asymmetric Private Key", "HIGH", "-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY( BLOCK)?-----"),
]

/// Secrets in one text file, each with its line and the line as Trivy shows it (the secret masked).
func findSecrets(in text: String) -> [SecretFinding] {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    var lineStarts: [Int] = []
    var offset = 0
    for line in lines {
        lineStarts.append(offset)
        offset += line.utf16.count + 1
    }
    var findings: [SecretFinding] = []
    let whole = NSRange(location: 0, length: text.utf16.count)
    for rule in secretRules {
        for match in rule.pattern.matches(in: text, range: whole) {
            let lineIndex = (lineStarts.lastIndex { $0 <= match.range.location }) ?? 0
            let line = String(lines[lineIndex])
            let start = match.range.location - lineStarts[lineIndex]
            let utf16 = Array(line.utf16)
            let end = min(utf16.count, start + match.range.length)
            let masked = String(decoding: utf16[..<start], as: UTF16.self) + String(repeating: "*", count: end - start)
                + String(decoding: utf16[end...], as: UTF16.self)
            findings.append(SecretFinding(
                RuleID: rule.id, Category: rule.category, Severity: rule.severity, Title: rule.title,
                StartLine: lineIndex + 1, EndLine: lineIndex + 1, Match: masked.trimmingCharacters(in: .whitespaces), Layer: [:]))
        }
    }
    return findings.sorted { ($0.StartLine, $0.RuleID) < ($1.StartLine, $1.RuleID) }
}

/// A Dockerfile check, numbered as Trivy's built-in checks.
struct DockerfileCheck: Sendable {
    var number: Int
    var title: String
    var severity: String
    var description: String
    var resolution: String
    /// The failing instruction's line (or 1 for a whole-file failure), or nil when the check passes.
    var evaluate: @Sendable ([Instruction]) -> (line: Int, message: String)?
}

struct Instruction: Sendable {
    var keyword: String
    var arguments: String
    var line: Int
}

/// Dockerfile instructions with continuation lines joined and comments dropped.
func instructions(_ text: String) -> [Instruction] {
    var result: [Instruction] = []
    var pending = ""
    var start = 0
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if pending.isEmpty && (line.isEmpty || line.hasPrefix("#")) { continue }
        if pending.isEmpty { start = index + 1 }
        if line.hasSuffix("\\") {
            pending += line.dropLast() + " "
            continue
        }
        pending += line
        let parts = pending.split(separator: " ", maxSplits: 1)
        if let keyword = parts.first {
            result.append(Instruction(keyword: keyword.uppercased(), arguments: parts.count > 1 ? String(parts[1]) : "", line: start))
        }
        pending = ""
    }
    return result
}

let dockerfileChecks = [
    DockerfileCheck(
        number: 1, title: "':latest' tag used", severity: "MEDIUM",
        description: "When using a 'FROM' statement you should use a specific tag to avoid uncontrolled behavior when the image is updated.",
        resolution: "Add a tag to the image in the 'FROM' statement"
    ) { instructions in
        var stages = Set<String>()
        for instruction in instructions where instruction.keyword == "FROM" {
            let words = instruction.arguments.split(separator: " ").filter { !$0.hasPrefix("--") }
            guard let image = words.first.map(String.init) else { continue }
            if words.count >= 3, words[1].lowercased() == "as" { stages.insert(String(words[2])) }
            if image == "scratch" || stages.contains(image) || image.contains("@") || image.hasPrefix("$") { continue }
            let name = image.split(separator: "/").last ?? ""
            let tag = name.split(separator: ":", maxSplits: 1).dropFirst().first
            if tag == nil || tag == "latest" {
                return (instruction.line, "Specify a tag in the 'FROM' statement for image '\(image.split(separator: ":").first ?? "")'")
            }
        }
        return nil
    },
    DockerfileCheck(
        number: 2, title: "Image user should not be 'root'", severity: "HIGH",
        description: "Running containers with 'root' user can lead to a container escape situation. It is a best practice to run containers as non-root users, which can be done by adding a 'USER' statement to the Dockerfile.",
        resolution: "Add 'USER <non root user name>' line to the Dockerfile"
    ) { instructions in
        let lastStage = instructions.lastIndex { $0.keyword == "FROM" } ?? 0
        let users = instructions[lastStage...].filter { $0.keyword == "USER" }
        guard let last = users.last else { return (1, "Specify at least 1 USER command in Dockerfile with non-root user as argument") }
        let user = last.arguments.split(separator: ":").first.map(String.init) ?? ""
        return user == "root" || user == "0" ? (last.line, "Last USER command in Dockerfile should not be 'root'") : nil
    },
    DockerfileCheck(
        number: 5, title: "ADD instead of COPY", severity: "LOW",
        description: "You should use COPY instead of ADD unless you want to extract a tar file. Note that an ADD command will extract a tar file, which adds the risk of Zip-based vulnerabilities. Accordingly, it is advised to use a COPY command, which does not extract tar files.",
        resolution: "Use COPY instead of ADD"
    ) { instructions in
        for instruction in instructions where instruction.keyword == "ADD" {
            let sources = instruction.arguments.split(separator: " ").filter { !$0.hasPrefix("--") }.dropLast()
            let archives = [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"]
            if sources.contains(where: { source in !source.contains("://") && !archives.contains { source.hasSuffix($0) } }) {
                return (instruction.line, "Consider using 'COPY \(instruction.arguments)' command instead of 'ADD \(instruction.arguments)'")
            }
        }
        return nil
    },
    DockerfileCheck(
        number: 26, title: "No HEALTHCHECK defined", severity: "LOW",
        description: "You should add HEALTHCHECK instruction in your docker container images to perform the health check on running containers.",
        resolution: "Add HEALTHCHECK instruction in Dockerfile"
    ) { instructions in
        instructions.contains { $0.keyword == "HEALTHCHECK" } ? nil : (1, "Add HEALTHCHECK instruction in your Dockerfile")
    },
]

func isDockerfile(_ name: String) -> Bool {
    name == "Dockerfile" || name == "Containerfile" || name.hasPrefix("Dockerfile.") || name.lowercased().hasSuffix(".dockerfile")
}
