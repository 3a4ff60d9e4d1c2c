import Foundation

/// Where the `trivy` binary is and how long it may run; read from the service's configuration.
public struct TrivyConfiguration: Sendable {
    /// Path of the `trivy` executable (the emulator in tests and the demo).
    public var executable: String
    /// A Trivy server (`trivy server`) to scan against; `nil` scans standalone.
    public var serverURL: String?
    /// The limit for one run of the tool.
    public var timeout: Duration
    /// Runs after a timed-out first one; the issue asks for two.
    public var timeoutRetries: Int
    /// The wait before the first retry; doubled before each further one.
    public var backoff: Duration
    /// Variables added to the tool's environment (cache directories, proxies).
    public var environment: [String: String]

    public init(
        executable: String, serverURL: String? = nil, timeout: Duration = .seconds(600), timeoutRetries: Int = 2,
        backoff: Duration = .seconds(5), environment: [String: String] = [:]
    ) {
        self.executable = executable
        self.serverURL = serverURL
        self.timeout = timeout
        self.timeoutRetries = timeoutRetries
        self.backoff = backoff
        self.environment = environment
    }
}

/// What a dataset version asks of Trivy (its scan configuration, with per-repository overrides applied).
public struct TrivyScanOptions: Codable, Sendable, Equatable {
    /// `vuln`, `misconfig`, `secret`, `license`; empty leaves Trivy's default.
    public var scanners: [String]
    /// Further command-line arguments, placed before the target.
    public var extraArguments: [String]
    /// The contents of a `trivy.yaml`, handed to Trivy with `--config`.
    public var configYAML: String?

    public init(scanners: [String] = ["vuln", "misconfig", "secret"], extraArguments: [String] = [], configYAML: String? = nil) {
        self.scanners = scanners
        self.extraArguments = extraArguments
        self.configYAML = configYAML
    }
}

/// A finished Trivy scan.
public struct TrivyScanResult: Sendable, Equatable {
    public var report: TrivyReport
    /// `trivy_` metrics, including `trivy_scan_duration_seconds` (the successful run's wall time).
    public var metrics: ScanMetrics
    public var attempts: Int
}

/// Runs `trivy fs --format json` on a worktree and reads its report.
public struct TrivyScanner: Sendable {
    public var configuration: TrivyConfiguration

    public init(configuration: TrivyConfiguration) { self.configuration = configuration }

    /// The command line for one run; `output` is the report file.
    public func arguments(worktree: String, options: TrivyScanOptions, configFile: String? = nil, output: String) -> [String] {
        var arguments = ["fs", "--format", "json", "--quiet", "--output", output]
        if !options.scanners.isEmpty { arguments += ["--scanners", options.scanners.joined(separator: ",")] }
        if let serverURL = configuration.serverURL, !serverURL.isEmpty { arguments += ["--server", serverURL] }
        arguments += options.extraArguments
        if let configFile { arguments += ["--config", configFile] }
        arguments.append(worktree)
        return arguments
    }

    /// Scans `worktree`. A run that times out is retried `timeoutRetries` times with a doubling backoff;
    /// any other failure ends the scan at once, since running the same tool on the same files again
    /// would fail the same way.
    public func scan(worktree: String, options: TrivyScanOptions = TrivyScanOptions()) async throws(ScanFailure) -> TrivyScanResult {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: worktree, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ScanFailure(kind: .launchFailed, reason: "worktree \(worktree) does not exist", attempts: 0)
        }
        let scratch = try ScratchDirectory(prefix: "trivy")
        defer { scratch.remove() }
        var configFile: String?
        if let yaml = options.configYAML {
            configFile = scratch.file("trivy.yaml")
            guard FileManager.default.createFile(atPath: scratch.file("trivy.yaml"), contents: Data(yaml.utf8)) else {
                throw ScanFailure(kind: .launchFailed, reason: "cannot write trivy.yaml", attempts: 0)
            }
        }
        let arguments = arguments(worktree: worktree, options: options, configFile: configFile, output: scratch.file("report.json"))
        var backoff = configuration.backoff
        var attempt = 0
        while true {
            attempt += 1
            try? FileManager.default.removeItem(atPath: scratch.file("report.json"))
            let process = ToolProcess(executable: configuration.executable, arguments: arguments, environment: configuration.environment, timeout: configuration.timeout)
            let started = ContinuousClock.now
            let exit: ToolExit
            do throws(ScanFailure) {
                exit = try await process.run(standardOutput: scratch.file("stdout"), standardError: scratch.file("stderr"))
            } catch {
                throw ScanFailure(kind: error.kind, reason: error.reason, attempts: attempt)
            }
            let elapsed = ContinuousClock.now - started
            switch exit {
            case .timedOut:
                guard attempt <= configuration.timeoutRetries, !Task.isCancelled else {
                    throw ScanFailure(
                        kind: .timedOut,
                        reason: "trivy did not finish within \(configuration.timeout) on any of \(attempt) attempts",
                        attempts: attempt)
                }
                try? await Task.sleep(for: backoff)
                backoff *= 2
            case .exited(let status) where status != 0:
                let detail = scratch.tail("stderr")
                throw ScanFailure(kind: .toolFailed, reason: "trivy exited with status \(status)" + (detail.isEmpty ? "" : ": \(detail)"), attempts: attempt)
            case .exited:
                guard let data = FileManager.default.contents(atPath: scratch.file("report.json")) else {
                    throw ScanFailure(kind: .badReport, reason: "trivy exited 0 but wrote no report", attempts: attempt)
                }
                let report: TrivyReport
                do throws(ScanFailure) {
                    report = try TrivyReport.parse(data)
                } catch {
                    throw ScanFailure(kind: error.kind, reason: error.reason, attempts: attempt)
                }
                var metrics = report.metrics
                let parts = elapsed.components
                metrics["trivy_scan_duration_seconds"] = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
                return TrivyScanResult(report: report, metrics: metrics, attempts: attempt)
            }
        }
    }
}
