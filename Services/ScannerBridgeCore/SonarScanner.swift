import Foundation

/// Where `sonar-scanner` and the SonarQube server are; read from the service's configuration.
public struct SonarQubeConfiguration: Sendable {
    /// Path of the `sonar-scanner` executable (the emulator's in tests and the demo).
    public var scannerExecutable: String
    /// The server the scanner submits to and the measures are read from (`sonar.host.url`).
    public var hostURL: String
    /// A SonarQube token (`sonar.token`, and `Authorization: Bearer` for the Web API).
    public var token: String
    /// The secret SonarQube signs its webhook bodies with.
    public var webhookSecret: String
    /// The limit for one run of the scanner (it only analyses and submits; the server works after).
    public var timeout: Duration
    /// Variables added to the scanner's environment (`SONAR_SCANNER_OPTS`, `JAVA_HOME`).
    public var environment: [String: String]

    public init(
        scannerExecutable: String, hostURL: String, token: String, webhookSecret: String, timeout: Duration = .seconds(1800),
        environment: [String: String] = [:]
    ) {
        self.scannerExecutable = scannerExecutable
        self.hostURL = hostURL
        self.token = token
        self.webhookSecret = webhookSecret
        self.timeout = timeout
        self.environment = environment
    }
}

/// SonarQube project keys for commit scans: one component per dataset version, repository and commit.
public enum SonarProjectKey {
    public static let defaultPattern = "buildrisk_{version}_{repository}_{commit}"

    /// Fills `{version}`, `{repository}` (`owner/name`), `{owner}`, `{name}`, `{commit}` and `{short}`
    /// (12 characters) into `pattern`. SonarQube allows letters, digits, `-`, `_`, `.` and `:` in a key
    /// (at most 400 characters, not all digits); anything else becomes `_`.
    public static func make(pattern: String = defaultPattern, version: String, repository: String, commit: String) -> String {
        let parts = repository.split(separator: "/", maxSplits: 1).map(String.init)
        var key = pattern
        let fields = [
            ("{version}", version), ("{repository}", repository), ("{owner}", parts.first ?? repository),
            ("{name}", parts.count > 1 ? parts[1] : repository), ("{commit}", commit), ("{short}", String(commit.prefix(12))),
        ]
        for (field, value) in fields { key = key.replacingOccurrences(of: field, with: value) }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
        key = String(key.map { allowed.contains($0) ? $0 : "_" }.prefix(400))
        return key.allSatisfy(\.isNumber) ? "k" + key.dropFirst() : key
    }
}

/// A scanner run that reached the server: the Compute Engine task now analysing the report.
public struct SonarSubmission: Sendable, Equatable {
    public var projectKey: String
    /// `ceTaskId` from the scanner's `report-task.txt`; `api/ce/task?id=` reports its progress.
    public var ceTaskID: String
    public var ceTaskURL: String?
}

/// Runs `sonar-scanner` on a worktree; completion arrives later through SonarQube's webhook.
public struct SonarScanner: Sendable {
    public var configuration: SonarQubeConfiguration

    public init(configuration: SonarQubeConfiguration) { self.configuration = configuration }

    /// The command line. The scanner's working directory (where it writes `report-task.txt`) is kept
    /// out of the worktree, so scanning leaves the checkout as it was.
    public func arguments(worktree: String, projectKey: String, workingDirectory: String, extraProperties: [String: String] = [:]) -> [String] {
        // The key, server, token and directories belong to the bridge; a version may change the rest,
        // `sonar.sources` included.
        let owned: [(String, String)] = [
            ("sonar.projectKey", projectKey),
            ("sonar.host.url", configuration.hostURL),
            ("sonar.token", configuration.token),
            ("sonar.projectBaseDir", worktree),
            ("sonar.working.directory", workingDirectory),
        ]
        var settable = ["sonar.sources": "."]
        for (key, value) in extraProperties where !owned.contains(where: { $0.0 == key }) { settable[key] = value }
        let properties = owned + settable.keys.sorted().map { ($0, settable[$0] ?? "") }
        return properties.map { "-D\($0.0)=\($0.1)" }
    }

    /// Runs the scanner and returns the server's task for the submission.
    public func submit(worktree: String, projectKey: String, extraProperties: [String: String] = [:]) async throws(ScanFailure) -> SonarSubmission {
        let scratch = try ScratchDirectory(prefix: "sonar")
        defer { scratch.remove() }
        let workingDirectory = scratch.file("work")
        let process = ToolProcess(
            executable: configuration.scannerExecutable,
            arguments: arguments(worktree: worktree, projectKey: projectKey, workingDirectory: workingDirectory, extraProperties: extraProperties),
            environment: configuration.environment, workingDirectory: worktree, timeout: configuration.timeout)
        switch try await process.run(standardOutput: scratch.file("stdout"), standardError: scratch.file("stderr")) {
        case .timedOut:
            throw ScanFailure(kind: .timedOut, reason: "sonar-scanner did not finish within \(configuration.timeout)")
        case .exited(let status) where status != 0:
            let detail = [scratch.tail("stderr"), scratch.tail("stdout", limit: 300)].filter { !$0.isEmpty }.joined(separator: " | ")
            throw ScanFailure(kind: .toolFailed, reason: "sonar-scanner exited with status \(status)" + (detail.isEmpty ? "" : ": \(detail)"))
        case .exited:
            guard let text = try? String(contentsOfFile: workingDirectory + "/report-task.txt", encoding: .utf8) else {
                throw ScanFailure(kind: .badReport, reason: "sonar-scanner exited 0 but wrote no report-task.txt")
            }
            let values = SonarScanner.properties(text)
            guard let taskID = values["ceTaskId"], !taskID.isEmpty else {
                throw ScanFailure(kind: .badReport, reason: "report-task.txt has no ceTaskId")
            }
            return SonarSubmission(projectKey: values["projectKey"] ?? projectKey, ceTaskID: taskID, ceTaskURL: values["ceTaskUrl"])
        }
    }

    /// Java properties as the scanner writes them (`key=value` lines, `#` comments).
    static func properties(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[line[..<equals].trimmingCharacters(in: .whitespaces)] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }
}
