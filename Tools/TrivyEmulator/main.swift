import Foundation

// trivy-emulator: `trivy fs --format json` for BuildRisk's demo and tests, where Trivy itself cannot be
// installed. It reads lock files and manifests (package-lock.json, requirements.txt, go.mod/go.sum,
// Gemfile.lock, Cargo.lock) against a small built-in advisory table, finds secrets by Trivy's built-in
// patterns, checks Dockerfiles, and writes Trivy's JSON report (SchemaVersion 2).
//
//   trivy-emulator fs --format json [--quiet] [--scanners vuln,misconfig,secret] [--severity HIGH,CRITICAL]
//                  [--output FILE] [--config trivy.yaml] [--server URL] [--skip-dirs DIR] [--timeout 5m] DIR
//
// Environment: TRIVY_EMULATOR_SLEEP_SECONDS sleeps before scanning (to exercise time limits);
// TRIVY_EMULATOR_GATE waits (up to ten minutes) until that file exists before scanning (a test
// holds scans running while something else happens);
// TRIVY_EMULATOR_FAIL makes the run fail with that message (exit 1); TRIVY_EMULATOR_LOG appends one
// line per run to that file; TRIVY_EMULATOR_CHECK_IDS=legacy writes misconfiguration IDs as Trivy did
// before its check-id change (`DS002` beside `AVD-DS-0002`) instead of `DS-0002`.
// `--server` is accepted and recorded only: the emulator always scans locally.

func fatal(_ message: String) -> Never {
    FileHandle.standardError.write(Data("FATAL\t\(message)\n".utf8))
    exit(1)
}

let environment = ProcessInfo.processInfo.environment
if let log = environment["TRIVY_EMULATOR_LOG"] {
    // O_APPEND makes each short write land whole at the end, however many runs log at once (a
    // seek-then-write, or creating the file, lets two concurrent runs overwrite each other's line).
    let line = "\(Date().timeIntervalSince1970) \(CommandLine.arguments.dropFirst().joined(separator: " "))\n"
    let descriptor = open(log, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    if descriptor >= 0 {
        _ = line.withCString { write(descriptor, $0, strlen($0)) }
        close(descriptor)
    }
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first, ["fs", "filesystem"].contains(command) else {
    fatal("unknown command \"\(arguments.first ?? "")\" for \"trivy\" (the emulator knows only \"fs\")")
}
arguments.removeFirst()
var format = "table"
var scanners = ["vuln", "secret"]
var severities: Set<String>?
var output: String?
var skipDirectories: [String] = []
var target: String?
var iterator = arguments.makeIterator()
while let argument = iterator.next() {
    let (flag, inline) = argument.hasPrefix("--") && argument.contains("=")
        ? (String(argument.split(separator: "=", maxSplits: 1)[0]), String(argument.split(separator: "=", maxSplits: 1)[1]))
        : (argument, nil)
    func value() -> String {
        guard let value = inline ?? iterator.next() else { fatal("flag needs an argument: \(flag)") }
        return value
    }
    switch flag {
    case "--format", "-f": format = value()
    case "--quiet", "-q", "--no-progress", "--skip-db-update", "--skip-update", "--offline-scan": break
    case "--scanners", "--security-checks": scanners = value().split(separator: ",").map(String.init)
    case "--severity", "-s": severities = Set(value().uppercased().split(separator: ",").map(String.init))
    case "--output", "-o": output = value()
    case "--config", "-c":
        let path = value()
        guard FileManager.default.isReadableFile(atPath: path) else { fatal("config file \"\(path)\" not found") }
    case "--server":
        let url = value()
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { fatal("invalid server address \"\(url)\"") }
    case "--skip-dirs": skipDirectories += value().split(separator: ",").map(String.init)
    case "--timeout", "--cache-dir", "--exit-code", "--skip-files": _ = value()
    default:
        if argument.hasPrefix("-") { fatal("unknown flag: \(argument)") }
        guard target == nil else { fatal("accepts 1 arg(s), received 2") }
        target = argument
    }
}
guard format == "json" else { fatal("the emulator writes --format json only (asked for \(format))") }
for scanner in scanners where !["vuln", "misconfig", "secret", "license"].contains(scanner) {
    fatal("unknown scanner: \(scanner)")
}
guard let target else { fatal("\"trivy fs\" requires at least 1 argument") }
var isDirectory: ObjCBool = false
guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue else {
    fatal("scan error: \(target): no such directory")
}
if let seconds = environment["TRIVY_EMULATOR_SLEEP_SECONDS"].flatMap(Double.init), seconds > 0 {
    Thread.sleep(forTimeInterval: seconds)
}
if let gate = environment["TRIVY_EMULATOR_GATE"] {
    let deadline = Date().addingTimeInterval(600)
    while !FileManager.default.fileExists(atPath: gate), Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
}
if let message = environment["TRIVY_EMULATOR_FAIL"] { fatal(message) }

let legacyIDs = environment["TRIVY_EMULATOR_CHECK_IDS"] == "legacy"
@MainActor func kept(_ severity: String) -> Bool { severities?.contains(severity) ?? true }

// Trivy walks the tree in lexical order and reports targets by their path relative to the root.
let root = URL(fileURLWithPath: target).standardizedFileURL.path
var files: [String] = []
if let walker = FileManager.default.enumerator(atPath: root) {
    while let relative = walker.nextObject() as? String {
        let name = (relative as NSString).lastPathComponent
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            if name == ".git" || skipDirectories.contains(relative) || skipDirectories.contains(name) { walker.skipDescendants() }
            continue
        }
        files.append(relative)
    }
}
files.sort()

var results: [Result] = []
for relative in files {
    let name = (relative as NSString).lastPathComponent
    guard let data = FileManager.default.contents(atPath: root + "/" + relative), data.count < 10 << 20,
        !data.prefix(8000).contains(0), let text = String(data: data, encoding: .utf8)
    else { continue }
    if scanners.contains("vuln"), let type = LockFile.type(of: name),
        !(name == "go.sum" && files.contains((relative as NSString).deletingLastPathComponent.isEmpty ? "go.mod" : (relative as NSString).deletingLastPathComponent + "/go.mod"))
    {
        var vulnerabilities: [Vulnerability] = []
        for package in LockFile.packages(fileName: name, text: text) {
            for advisory in affecting(ecosystem: type, package: package.name, version: package.version) where kept(advisory.severity) {
                let purlType = ["npm": "npm", "pip": "pypi", "gomod": "golang", "bundler": "gem", "cargo": "cargo"][type] ?? type
                vulnerabilities.append(Vulnerability(
                    VulnerabilityID: advisory.id, PkgID: "\(package.name)@\(package.version)", PkgName: package.name,
                    PkgIdentifier: .init(PURL: "pkg:\(purlType)/\(package.name)@\(package.version)"),
                    InstalledVersion: package.version, FixedVersion: advisory.fixed,
                    PrimaryURL: "https://avd.aquasec.com/nvd/\(advisory.id.lowercased())", Title: advisory.title, Severity: advisory.severity))
            }
        }
        results.append(Result(Target: relative, Class: "lang-pkgs", Type: type, Vulnerabilities: vulnerabilities.isEmpty ? nil : vulnerabilities))
    }
    if scanners.contains("misconfig"), isDockerfile(name) {
        let parsed = instructions(text)
        var failures: [Misconfiguration] = []
        for check in dockerfileChecks {
            guard let (line, message) = check.evaluate(parsed), kept(check.severity) else { continue }
            let short = String(format: "DS%03d", check.number)
            let avd = String(format: "AVD-DS-%04d", check.number)
            failures.append(Misconfiguration(
                ID: legacyIDs ? short : String(avd.dropFirst(4)), AVDID: avd, Title: check.title, Description: check.description,
                Message: message, Namespace: "builtin.dockerfile.\(short)", Query: "data.builtin.dockerfile.\(short).deny",
                Resolution: check.resolution, Severity: check.severity, PrimaryURL: "https://avd.aquasec.com/misconfig/\(short.lowercased())",
                References: ["https://avd.aquasec.com/misconfig/\(short.lowercased())"],
                CauseMetadata: .init(StartLine: line, EndLine: line)))
        }
        results.append(Result(
            Target: relative, Class: "config", Type: "dockerfile",
            MisconfSummary: MisconfSummary(Successes: dockerfileChecks.count - failures.count, Failures: failures.count),
            Misconfigurations: failures.isEmpty ? nil : failures))
    }
    if scanners.contains("secret") {
        let secrets = findSecrets(in: text).filter { kept($0.Severity) }
        if !secrets.isEmpty { results.append(Result(Target: relative, Class: "secret", Secrets: secrets)) }
    }
}

let formatter = ISO8601DateFormatter()
formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
let report = Report(CreatedAt: formatter.string(from: Date()), ArtifactName: target, Results: results.isEmpty ? nil : results)
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
guard let json = try? encoder.encode(report) else { fatal("could not encode the report") }
if let output {
    guard FileManager.default.createFile(atPath: output, contents: json + Data("\n".utf8)) else { fatal("cannot write \(output)") }
} else {
    FileHandle.standardOutput.write(json + Data("\n".utf8))
}
