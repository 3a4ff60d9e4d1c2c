/// Trivy's JSON report (SchemaVersion 2), field names as Trivy writes them; optional fields that are
/// nil are left out, as Trivy's `omitempty` does.
struct Report: Encodable {
    var SchemaVersion = 2
    var CreatedAt: String
    var ArtifactName: String
    var ArtifactType = "filesystem"
    var Metadata = ReportMetadata()
    var Results: [Result]?
}

struct ReportMetadata: Encodable {
    struct ImageConfig: Encodable {
        struct RootFS: Encodable {
            var type = ""
            var diff_ids: [String]? = nil
        }
        var architecture = ""
        var created = "0001-01-01T00:00:00Z"
        var os = ""
        var rootfs = RootFS()
        var config: [String: String] = [:]
    }
    var ImageConfig = ImageConfig()
}

struct Result: Encodable {
    var Target: String
    var Class: String
    var `Type`: String?
    var Vulnerabilities: [Vulnerability]?
    var MisconfSummary: MisconfSummary?
    var Misconfigurations: [Misconfiguration]?
    var Secrets: [SecretFinding]?
}

struct Vulnerability: Encodable {
    struct Identifier: Encodable { var PURL: String }
    var VulnerabilityID: String
    var PkgID: String
    var PkgName: String
    var PkgIdentifier: Identifier
    var InstalledVersion: String
    var FixedVersion: String
    var Status = "fixed"
    var Layer: [String: String] = [:]
    var SeveritySource = "ghsa"
    var PrimaryURL: String
    var Title: String
    var Severity: String
}

struct MisconfSummary: Encodable {
    var Successes: Int
    var Failures: Int
    var Exceptions = 0
}

struct Misconfiguration: Encodable {
    struct Cause: Encodable {
        struct Code: Encodable { var Lines: [String]? = nil }
        var Provider = "Dockerfile"
        var Service = "general"
        var StartLine: Int
        var EndLine: Int
        var Code = Code()
    }
    var `Type` = "Dockerfile Security Check"
    var ID: String
    var AVDID: String
    var Title: String
    var Description: String
    var Message: String
    var Namespace: String
    var Query: String
    var Resolution: String
    var Severity: String
    var PrimaryURL: String
    var References: [String]
    var Status = "FAIL"
    var Layer: [String: String] = [:]
    var CauseMetadata: Cause
}

struct SecretFinding: Encodable {
    var RuleID: String
    var Category: String
    var Severity: String
    var Title: String
    var StartLine: Int
    var EndLine: Int
    var Match: String
    var Layer: [String: String]
}
