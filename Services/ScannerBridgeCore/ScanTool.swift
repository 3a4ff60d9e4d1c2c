import Foundation

/// A finished scan's numbers, keyed by prefixed metric name (`trivy_vuln_high`, `sonar_ncloc`).
public struct ScanMetrics: Codable, Sendable, Equatable {
    public var values: [String: Double]

    public init(_ values: [String: Double] = [:]) { self.values = values }

    public subscript(name: String) -> Double? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// The metrics a version selected: exact names or `prefix*` wildcards; `nil` keeps every metric.
    public func filtered(to selection: [String]?) -> ScanMetrics {
        guard let selection else { return self }
        return ScanMetrics(values.filter { ScanMetrics.matches($0.key, selection) })
    }

    static func matches(_ name: String, _ selection: [String]) -> Bool {
        selection.contains { pattern in
            pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : name == pattern
        }
    }
}

/// Why a scan did not produce metrics, in words a user can act on; the job layer stores `reason` and
/// offers a retry for every kind.
public struct ScanFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        /// The tool ran past its time limit on every attempt.
        case timedOut = "timed_out"
        /// The tool could not be started (missing or not executable).
        case launchFailed = "launch_failed"
        /// The tool exited non-zero.
        case toolFailed = "tool_failed"
        /// The tool's output could not be read as its documented format.
        case badReport = "bad_report"
        /// The analysis server answered with an error or could not be reached.
        case serverFailed = "server_failed"
        /// The analysis itself failed (SonarQube's `FAILED` status).
        case analysisFailed = "analysis_failed"
    }

    public var kind: Kind
    public var reason: String
    /// How many times the tool was started for this outcome.
    public var attempts: Int

    public init(kind: Kind, reason: String, attempts: Int = 1) {
        self.kind = kind
        self.reason = reason
        self.attempts = attempts
    }

    public var description: String { "\(kind.rawValue): \(reason)" }
}
