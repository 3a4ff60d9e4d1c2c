import Foundation

/// Trivy's JSON report (`--format json`, `SchemaVersion` 2), the fields the scan metrics need.
/// Trivy omits empty lists (`omitempty`), so a result with nothing found has no `Vulnerabilities`,
/// `Misconfigurations` or `Secrets` key at all; every list here is optional for that reason.
public struct TrivyReport: Codable, Sendable, Equatable {
    public var schemaVersion: Int
    public var artifactName: String?
    public var artifactType: String?
    public var results: [Result]?

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "SchemaVersion", artifactName = "ArtifactName", artifactType = "ArtifactType", results = "Results"
    }

    public struct Result: Codable, Sendable, Equatable {
        public var target: String
        /// `os-pkgs`, `lang-pkgs`, `config`, `secret`, `license`, `license-file`, `custom`.
        public var `class`: String?
        /// The analyser: `npm`, `pip`, `gomod`, `bundler`, `dockerfile`, …
        public var type: String?
        public var vulnerabilities: [Vulnerability]?
        public var misconfSummary: MisconfSummary?
        public var misconfigurations: [Misconfiguration]?
        public var secrets: [Secret]?

        enum CodingKeys: String, CodingKey {
            case target = "Target", `class` = "Class", type = "Type", vulnerabilities = "Vulnerabilities"
            case misconfSummary = "MisconfSummary", misconfigurations = "Misconfigurations", secrets = "Secrets"
        }
    }

    public struct Vulnerability: Codable, Sendable, Equatable {
        public var vulnerabilityID: String
        public var pkgName: String
        public var installedVersion: String?
        public var fixedVersion: String?
        public var severity: String?

        enum CodingKeys: String, CodingKey {
            case vulnerabilityID = "VulnerabilityID", pkgName = "PkgName", installedVersion = "InstalledVersion"
            case fixedVersion = "FixedVersion", severity = "Severity"
        }
    }

    public struct MisconfSummary: Codable, Sendable, Equatable {
        public var successes: Int
        public var failures: Int
        public var exceptions: Int?

        enum CodingKeys: String, CodingKey { case successes = "Successes", failures = "Failures", exceptions = "Exceptions" }
    }

    public struct Misconfiguration: Codable, Sendable, Equatable {
        /// `DS002` in reports before Trivy's check-id change, `DS-0002` after it.
        public var id: String?
        /// `AVD-DS-0002`; present in the older reports, dropped or kept as an alias in newer ones.
        public var avdID: String?
        public var title: String?
        public var severity: String?
        /// `FAIL`, `PASS` or `EXCEPTION`; reports that list failures only may leave it out.
        public var status: String?

        enum CodingKeys: String, CodingKey { case id = "ID", avdID = "AVDID", title = "Title", severity = "Severity", status = "Status" }

        /// One spelling for every report generation: `DS-0002` whether the report said `DS002`,
        /// `AVD-DS-0002` or `DS-0002`.
        public var checkID: String {
            if let id, TrivyReport.isCurrentCheckID(id) { return id }
            if let avdID, avdID.hasPrefix("AVD-") { return String(avdID.dropFirst(4)) }
            if let id, id.hasPrefix("AVD-") { return String(id.dropFirst(4)) }
            if let id, let split = id.firstIndex(where: \.isNumber), split > id.startIndex, let number = Int(id[split...]) {
                let digits = String(number)
                return id[..<split] + "-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
            }
            return id ?? avdID ?? "unknown"
        }

        /// Reports before `Status` existed listed failures only.
        public var failed: Bool { (status ?? "FAIL").uppercased() == "FAIL" }
    }

    public struct Secret: Codable, Sendable, Equatable {
        public var ruleID: String
        public var category: String?
        public var severity: String?
        public var title: String?
        public var startLine: Int?

        enum CodingKeys: String, CodingKey { case ruleID = "RuleID", category = "Category", severity = "Severity", title = "Title", startLine = "StartLine" }
    }

    static func isCurrentCheckID(_ id: String) -> Bool {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[0].allSatisfy(\.isLetter) && !parts[1].isEmpty && parts[1].allSatisfy(\.isNumber)
    }

    /// Reads a report; anything that is not a SchemaVersion 2 report is refused with the reason.
    public static func parse(_ data: Data) throws(ScanFailure) -> TrivyReport {
        let report: TrivyReport
        do {
            report = try JSONDecoder().decode(TrivyReport.self, from: data)
        } catch {
            throw ScanFailure(kind: .badReport, reason: "not a Trivy JSON report: \(TrivyReport.describe(error))")
        }
        guard report.schemaVersion == 2 else {
            throw ScanFailure(kind: .badReport, reason: "Trivy report SchemaVersion \(report.schemaVersion) is not supported (expected 2)")
        }
        return report
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            "missing \(key.stringValue) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            "\(context.debugDescription) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            "\(error)"
        }
    }
}

extension TrivyReport {
    /// The severities Trivy uses; anything else counts as `unknown`.
    public static let severities = ["critical", "high", "medium", "low", "unknown"]

    /// The report as `trivy_` metrics: vulnerabilities, failed misconfigurations and secrets by
    /// severity with totals, passed checks, and the number of targets scanned.
    public var metrics: ScanMetrics {
        var metrics = ScanMetrics()
        for kind in ["vuln", "misconfig", "secret"] {
            for severity in TrivyReport.severities { metrics["trivy_\(kind)_\(severity)"] = 0 }
            metrics["trivy_\(kind)_total"] = 0
        }
        metrics["trivy_misconfig_successes"] = 0
        metrics["trivy_misconfig_exceptions"] = 0
        func count(_ kind: String, _ severity: String?) {
            let level = severity?.lowercased() ?? "unknown"
            let key = "trivy_\(kind)_\(TrivyReport.severities.contains(level) ? level : "unknown")"
            metrics[key, default: 0] += 1
            metrics["trivy_\(kind)_total", default: 0] += 1
        }
        let results = results ?? []
        for result in results {
            for vulnerability in result.vulnerabilities ?? [] { count("vuln", vulnerability.severity) }
            for misconfiguration in result.misconfigurations ?? [] where misconfiguration.failed { count("misconfig", misconfiguration.severity) }
            for secret in result.secrets ?? [] { count("secret", secret.severity) }
            if let summary = result.misconfSummary {
                metrics["trivy_misconfig_successes", default: 0] += Double(summary.successes)
                metrics["trivy_misconfig_exceptions", default: 0] += Double(summary.exceptions ?? 0)
            }
        }
        metrics["trivy_targets"] = Double(results.count)
        metrics["trivy_vuln_packages"] = Double(Set(results.flatMap { result in (result.vulnerabilities ?? []).map { "\(result.target)|\($0.pkgName)" } }).count)
        return metrics
    }
}

extension ScanMetrics {
    subscript(name: String, default value: Double) -> Double {
        get { values[name] ?? value }
        set { values[name] = newValue }
    }
}
