import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFoundationCompat
import ScannerBridgeCore
import ServiceLifecycle
import SonarQubeEmulatorCore
import Testing

/// Trivy reports as Trivy writes them (fields trimmed to what matters), from before and after its
/// check-id change, with and without the keys Trivy omits when a list is empty.
enum TrivyFixtures {
    /// Older output: misconfiguration IDs `DS002` with `AVDID` `AVD-DS-0002`; a requirements.txt with
    /// nothing found has no `Vulnerabilities` key.
    static let legacy = #"""
    {
      "SchemaVersion": 2,
      "CreatedAt": "2024-03-01T09:12:44.571003+00:00",
      "ArtifactName": "/work/checkout",
      "ArtifactType": "filesystem",
      "Metadata": {"ImageConfig": {"architecture": "", "created": "0001-01-01T00:00:00Z", "os": "", "rootfs": {"type": "", "diff_ids": null}, "config": {}}},
      "Results": [
        {
          "Target": "package-lock.json", "Class": "lang-pkgs", "Type": "npm",
          "Vulnerabilities": [
            {"VulnerabilityID": "CVE-2019-10744", "PkgID": "lodash@4.17.4", "PkgName": "lodash", "InstalledVersion": "4.17.4", "FixedVersion": "4.17.12", "Status": "fixed", "Layer": {}, "SeveritySource": "ghsa", "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2019-10744", "Title": "lodash: prototype pollution in defaultsDeep", "Severity": "CRITICAL"},
            {"VulnerabilityID": "CVE-2020-8203", "PkgName": "lodash", "InstalledVersion": "4.17.4", "FixedVersion": "4.17.19", "Severity": "HIGH"},
            {"VulnerabilityID": "CVE-2021-23337", "PkgName": "lodash", "InstalledVersion": "4.17.4", "FixedVersion": "4.17.21", "Severity": "HIGH"},
            {"VulnerabilityID": "CVE-2020-28168", "PkgName": "axios", "InstalledVersion": "0.19.0", "FixedVersion": "0.21.1", "Severity": "MEDIUM"}
          ]
        },
        {"Target": "requirements.txt", "Class": "lang-pkgs", "Type": "pip"},
        {
          "Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
          "MisconfSummary": {"Successes": 24, "Failures": 2, "Exceptions": 0},
          "Misconfigurations": [
            {"Type": "Dockerfile Security Check", "ID": "DS002", "AVDID": "AVD-DS-0002", "Title": "Image user should not be 'root'", "Namespace": "builtin.dockerfile.DS002", "Severity": "HIGH", "Status": "FAIL", "Layer": {}, "CauseMetadata": {"Provider": "Dockerfile", "Service": "general", "Code": {"Lines": null}}},
            {"Type": "Dockerfile Security Check", "ID": "DS026", "AVDID": "AVD-DS-0026", "Title": "No HEALTHCHECK defined", "Severity": "LOW", "Status": "FAIL"}
          ]
        },
        {
          "Target": "config/.env", "Class": "secret",
          "Secrets": [{"RuleID": "aws-access-key-id", "Category": "AWS", "Severity": "CRITICAL", "Title": "AWS Access Key ID", "StartLine": 3, "EndLine": 3, "Match": "AWS_ACCESS_KEY_ID=********************", "Layer": {}}]
        }
      ]
    }
    """#

    /// Current output: `ID` `DS-0001` (one without `AVDID`), a passed check listed
    /// (`--include-non-failures`), a vulnerability of unknown severity.
    static let current = #"""
    {
      "SchemaVersion": 2,
      "ArtifactName": ".",
      "ArtifactType": "filesystem",
      "Results": [
        {"Target": "go.mod", "Class": "lang-pkgs", "Type": "gomod", "Vulnerabilities": [
          {"VulnerabilityID": "GHSA-xxxx-yyyy-zzzz", "PkgName": "example.com/lib", "InstalledVersion": "v0.1.0", "Severity": "UNKNOWN"},
          {"VulnerabilityID": "CVE-2023-29401", "PkgName": "github.com/gin-gonic/gin", "InstalledVersion": "v1.9.0", "FixedVersion": "1.9.1", "Severity": "MEDIUM"},
          {"VulnerabilityID": "CVE-2017-16137", "PkgName": "debug", "InstalledVersion": "2.6.8", "FixedVersion": "2.6.9", "Severity": "LOW"}
        ]},
        {"Target": "deploy/Dockerfile", "Class": "config", "Type": "dockerfile",
          "MisconfSummary": {"Successes": 25, "Failures": 2, "Exceptions": 1},
          "Misconfigurations": [
            {"Type": "Dockerfile Security Check", "ID": "DS-0001", "Title": "':latest' tag used", "Severity": "MEDIUM", "Status": "FAIL"},
            {"Type": "Dockerfile Security Check", "ID": "DS-0005", "AVDID": "AVD-DS-0005", "Title": "ADD instead of COPY", "Severity": "LOW", "Status": "FAIL"},
            {"Type": "Dockerfile Security Check", "ID": "DS-0002", "AVDID": "AVD-DS-0002", "Title": "Image user should not be 'root'", "Severity": "HIGH", "Status": "PASS"}
          ]},
        {"Target": "keys/deploy.pem", "Class": "secret", "Secrets": [
          {"RuleID": "private-key", "Category": "AsymmetricPrivateKey", "Severity": "HIGH", "Title": "Asymmetric Private Key", "StartLine": 1, "EndLine": 1}
        ]},
        {"Target": "scripts/release.sh", "Class": "secret", "Secrets": [
          {"RuleID": "github-pat", "Category": "GitHub", "Severity": "CRITICAL", "Title": "GitHub Personal Access Token", "StartLine": 4, "EndLine": 4}
        ]}
      ]
    }
    """#

    /// A scan that found nothing: every result without a findings key.
    static let clean = #"""
    {"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem", "Results": [
      {"Target": "Gemfile.lock", "Class": "lang-pkgs", "Type": "bundler"},
      {"Target": "Cargo.lock", "Class": "lang-pkgs", "Type": "cargo"}
    ]}
    """#
}

/// Where `swift build` put the emulators.
func emulatorPath(_ name: String) -> String { TestEnvironment.binDirectory.appendingPathComponent(name).path }

func temporaryDirectory(_ files: [String: String]) throws -> String {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString)").path
    for (path, contents) in files {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: full, atomically: true, encoding: .utf8)
    }
    return root
}

struct TrivyReportTests {
    @Test func anOlderReportCountsVulnerabilitiesMisconfigurationsAndSecretsBySeverity() throws {
        let report = try TrivyReport.parse(Data(TrivyFixtures.legacy.utf8))
        let metrics = report.metrics
        #expect(metrics["trivy_vuln_critical"] == 1)
        #expect(metrics["trivy_vuln_high"] == 2)
        #expect(metrics["trivy_vuln_medium"] == 1)
        #expect(metrics["trivy_vuln_low"] == 0)
        #expect(metrics["trivy_vuln_total"] == 4)
        #expect(metrics["trivy_vuln_packages"] == 2)
        #expect(metrics["trivy_misconfig_high"] == 1)
        #expect(metrics["trivy_misconfig_low"] == 1)
        #expect(metrics["trivy_misconfig_total"] == 2)
        #expect(metrics["trivy_misconfig_successes"] == 24)
        #expect(metrics["trivy_secret_critical"] == 1)
        #expect(metrics["trivy_secret_total"] == 1)
        #expect(metrics["trivy_targets"] == 4)
        let checks = (report.results ?? []).flatMap { $0.misconfigurations ?? [] }.map(\.checkID)
        #expect(checks == ["DS-0002", "DS-0026"])
    }

    @Test func aCurrentReportWithNewCheckIDsCountsOnlyFailedChecks() throws {
        let report = try TrivyReport.parse(Data(TrivyFixtures.current.utf8))
        let metrics = report.metrics
        #expect(metrics["trivy_vuln_unknown"] == 1)
        #expect(metrics["trivy_vuln_medium"] == 1)
        #expect(metrics["trivy_vuln_low"] == 1)
        #expect(metrics["trivy_vuln_total"] == 3)
        #expect(metrics["trivy_misconfig_medium"] == 1)
        #expect(metrics["trivy_misconfig_low"] == 1)
        #expect(metrics["trivy_misconfig_high"] == 0)
        #expect(metrics["trivy_misconfig_total"] == 2)
        #expect(metrics["trivy_misconfig_successes"] == 25)
        #expect(metrics["trivy_misconfig_exceptions"] == 1)
        #expect(metrics["trivy_secret_critical"] == 1)
        #expect(metrics["trivy_secret_high"] == 1)
        #expect(metrics["trivy_secret_total"] == 2)
        let checks = (report.results ?? []).flatMap { $0.misconfigurations ?? [] }.map(\.checkID)
        #expect(checks == ["DS-0001", "DS-0005", "DS-0002"])
    }

    @Test func resultsWithoutFindingKeysAndReportsWithoutResultsCountZero() throws {
        let clean = try TrivyReport.parse(Data(TrivyFixtures.clean.utf8)).metrics
        #expect(clean["trivy_vuln_total"] == 0)
        #expect(clean["trivy_misconfig_total"] == 0)
        #expect(clean["trivy_secret_total"] == 0)
        #expect(clean["trivy_targets"] == 2)
        let empty = try TrivyReport.parse(Data(#"{"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem"}"#.utf8)).metrics
        #expect(empty["trivy_vuln_total"] == 0)
        #expect(empty["trivy_targets"] == 0)
    }

    @Test func aReportInAnotherSchemaIsRefusedWithTheReason() {
        // Trivy before SchemaVersion 2 wrote a bare list of results.
        let old = #"[{"Target": "package-lock.json", "Vulnerabilities": null}]"#
        #expect(throws: ScanFailure.self) { try TrivyReport.parse(Data(old.utf8)) }
        do throws(ScanFailure) {
            _ = try TrivyReport.parse(Data(#"{"SchemaVersion": 3, "Results": []}"#.utf8))
            Issue.record("SchemaVersion 3 was accepted")
        } catch {
            #expect(error.kind == .badReport)
            #expect(error.reason.contains("SchemaVersion 3"))
        }
    }

    @Test func theSelectionKeepsNamedMetricsAndWildcards() throws {
        let metrics = try TrivyReport.parse(Data(TrivyFixtures.legacy.utf8)).metrics
        let kept = metrics.filtered(to: ["trivy_vuln_critical", "trivy_secret_*"])
        #expect(Set(kept.values.keys) == Set(["trivy_vuln_critical"]).union(TrivyReport.severities.map { "trivy_secret_\($0)" }).union(["trivy_secret_total"]))
        #expect(metrics.filtered(to: []).values.isEmpty)
    }
}

struct TrivyScannerTests {
    /// A worktree with planted findings: lodash 4.17.4 (CVE-2019-10744 CRITICAL, CVE-2020-8203 HIGH,
    /// CVE-2021-23337 HIGH), a nested debug 2.6.8 (CVE-2017-16137 LOW), requests 2.25.0
    /// (CVE-2023-32681 MEDIUM); go.mod with gin at its fixed version (nothing); an AWS key and a
    /// GitHub token (CRITICAL) and a private key (HIGH); a Dockerfile with a latest tag (DS-0001
    /// MEDIUM), no USER (DS-0002 HIGH) and ADD (DS-0005 LOW), which does define a HEALTHCHECK.
    static let plantedFiles: [String: String] = [
        "package-lock.json": #"""
        {"name": "web", "lockfileVersion": 3, "requires": true, "packages": {
          "": {"name": "web", "dependencies": {"lodash": "^4.17.4", "minimist": "^1.2.8"}},
          "node_modules/lodash": {"version": "4.17.4"},
          "node_modules/minimist": {"version": "1.2.8"},
          "node_modules/a/node_modules/debug": {"version": "2.6.8"}
        }}
        """#,
        "api/requirements.txt": "# pinned\nrequests==2.25.0\nflask==2.3.0 ; python_version >= \"3.8\"\n",
        "go.mod": "module example.com/svc\n\ngo 1.21\n\nrequire (\n\tgithub.com/gin-gonic/gin v1.9.1\n)\n",
        "config/settings.py": "REGION = 'eu-west-1'\nAWS_ACCESS_KEY_ID = 'AKIA2E0A8F3B244C9986'\n",
        "scripts/release.sh": "#!/bin/sh\nexport GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345\n",
        "deploy/id_rsa": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n",
        "Dockerfile": "FROM node:latest\nWORKDIR /app\nADD . /app\nRUN npm ci\nHEALTHCHECK CMD curl -f http://localhost:3000/ || exit 1\nCMD [\"node\", \"server.js\"]\n",
        "README.md": "A service.\n",
    ]

    @Test func theEmulatorsReportCountsWhatTheWorktreePlanted() async throws {
        let worktree = try temporaryDirectory(Self.plantedFiles)
        defer { try? FileManager.default.removeItem(atPath: worktree) }
        for checkIDs in ["current", "legacy"] {
            let scanner = TrivyScanner(configuration: TrivyConfiguration(
                executable: emulatorPath("trivy-emulator"), timeout: .seconds(60), environment: ["TRIVY_EMULATOR_CHECK_IDS": checkIDs]))
            let result = try await scanner.scan(worktree: worktree)
            let metrics = result.metrics
            #expect(result.attempts == 1)
            #expect(metrics["trivy_vuln_critical"] == 1)
            #expect(metrics["trivy_vuln_high"] == 2)
            #expect(metrics["trivy_vuln_medium"] == 1)
            #expect(metrics["trivy_vuln_low"] == 1)
            #expect(metrics["trivy_vuln_total"] == 5)
            #expect(metrics["trivy_misconfig_medium"] == 1)
            #expect(metrics["trivy_misconfig_high"] == 1)
            #expect(metrics["trivy_misconfig_low"] == 1)
            #expect(metrics["trivy_misconfig_total"] == 3)
            #expect(metrics["trivy_misconfig_successes"] == 1)
            #expect(metrics["trivy_secret_critical"] == 2)
            #expect(metrics["trivy_secret_high"] == 1)
            #expect(metrics["trivy_secret_total"] == 3)
            #expect((metrics["trivy_scan_duration_seconds"] ?? 0) > 0)
            let results = result.report.results ?? []
            let vulnerabilities = Set(results.flatMap { $0.vulnerabilities ?? [] }.map(\.vulnerabilityID))
            #expect(vulnerabilities == ["CVE-2019-10744", "CVE-2020-8203", "CVE-2021-23337", "CVE-2017-16137", "CVE-2023-32681"])
            #expect(Set(results.flatMap { $0.misconfigurations ?? [] }.map(\.checkID)) == ["DS-0001", "DS-0002", "DS-0005"])
            #expect(Set(results.flatMap { $0.secrets ?? [] }.map(\.ruleID)) == ["aws-access-key-id", "github-pat", "private-key"])
            // The go.mod result is there, with no Vulnerabilities key.
            let goModule = try #require(results.first { $0.target == "go.mod" })
            #expect(goModule.vulnerabilities == nil)
        }
    }

    @Test func theCommandLineCarriesScannersServerExtraArgumentsAndConfig() {
        let scanner = TrivyScanner(configuration: TrivyConfiguration(executable: "/usr/bin/trivy", serverURL: "http://trivy:4954"))
        let options = TrivyScanOptions(scanners: ["vuln", "secret"], extraArguments: ["--skip-dirs", "vendor"])
        #expect(scanner.arguments(worktree: "/w/abc", options: options, configFile: "/tmp/t/trivy.yaml", output: "/tmp/t/report.json") == [
            "fs", "--format", "json", "--quiet", "--output", "/tmp/t/report.json", "--scanners", "vuln,secret",
            "--server", "http://trivy:4954", "--skip-dirs", "vendor", "--config", "/tmp/t/trivy.yaml", "/w/abc",
        ])
    }

    @Test func aTrivyThatOutlivesItsLimitIsRetriedTwiceThenFailedWithTheReason() async throws {
        let worktree = try temporaryDirectory(["README.md": "nothing\n"])
        let log = worktree + "-runs.log"
        defer {
            try? FileManager.default.removeItem(atPath: worktree)
            try? FileManager.default.removeItem(atPath: log)
        }
        let scanner = TrivyScanner(configuration: TrivyConfiguration(
            executable: emulatorPath("trivy-emulator"), timeout: .seconds(2), timeoutRetries: 2, backoff: .milliseconds(50),
            environment: ["TRIVY_EMULATOR_SLEEP_SECONDS": "60", "TRIVY_EMULATOR_LOG": log]))
        do throws(ScanFailure) {
            _ = try await scanner.scan(worktree: worktree)
            Issue.record("a sleeping trivy produced a report")
        } catch {
            #expect(error.kind == .timedOut)
            #expect(error.attempts == 3)
            #expect(error.reason.contains("did not finish within"))
        }
        let runs = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(runs.count == 3)
    }

    @Test func aTrivyThatFailsIsNotRetriedAndItsMessageIsTheReason() async throws {
        let worktree = try temporaryDirectory(["README.md": "nothing\n"])
        let log = worktree + "-runs.log"
        defer {
            try? FileManager.default.removeItem(atPath: worktree)
            try? FileManager.default.removeItem(atPath: log)
        }
        let scanner = TrivyScanner(configuration: TrivyConfiguration(
            executable: emulatorPath("trivy-emulator"), timeout: .seconds(60),
            environment: ["TRIVY_EMULATOR_FAIL": "failed to download vulnerability DB", "TRIVY_EMULATOR_LOG": log]))
        do throws(ScanFailure) {
            _ = try await scanner.scan(worktree: worktree)
            Issue.record("a failing trivy produced a report")
        } catch {
            #expect(error.kind == .toolFailed)
            #expect(error.attempts == 1)
            #expect(error.reason.contains("failed to download vulnerability DB"))
        }
        #expect(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count == 1)
        let missing = TrivyScanner(configuration: TrivyConfiguration(executable: worktree + "/no-such-trivy"))
        let unlaunched = await #expect(throws: ScanFailure.self) { try await missing.scan(worktree: worktree) }
        #expect(unlaunched?.kind == .launchFailed, "\(String(describing: unlaunched))")
    }
}

struct SonarWebhookTests {
    static let secret = "webhook-secret-for-tests"
    /// SonarQube's documented payload.
    static let body = Data(#"""
    {"serverUrl":"https://sonar.example.com","taskId":"AVh21JS2JepAEhwQ-b3u","status":"SUCCESS","analysedAt":"2016-11-18T10:46:28+0100","revision":"c739069ec7105e01303e8b3065a81141aad9f129","changedAt":"2016-11-18T10:46:28+0100","project":{"key":"buildrisk_7_acme_api_c739069","name":"acme/api","url":"https://sonar.example.com/dashboard?id=buildrisk_7_acme_api_c739069"},"branch":{"name":"main","type":"BRANCH","isMain":true,"url":"https://sonar.example.com/dashboard?id=buildrisk_7_acme_api_c739069"},"properties":{},"qualityGate":{"conditions":[{"errorThreshold":"1","metric":"new_security_rating","onLeakPeriod":true,"operator":"GREATER_THAN","status":"OK","value":"1"},{"errorThreshold":"80","metric":"new_coverage","onLeakPeriod":true,"operator":"LESS_THAN","status":"NO_VALUE"}],"name":"SonarQube way","status":"OK"}}
    """#.utf8)

    static func sign(_ body: Data, _ secret: String) -> String {
        HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8))).map { String(format: "%02x", $0) }.joined()
    }

    @Test func aCorrectlySignedDeliveryIsAcceptedAndRead() throws {
        let payload = try SonarWebhook(secret: Self.secret).receive(body: Self.body, signature: Self.sign(Self.body, Self.secret))
        #expect(payload.taskId == "AVh21JS2JepAEhwQ-b3u")
        #expect(payload.succeeded)
        #expect(payload.project.key == "buildrisk_7_acme_api_c739069")
        #expect(payload.qualityGate?.status == "OK")
        #expect(payload.qualityGate?.conditions?.count == 2)
    }

    @Test func aMissingWrongOrStaleSignatureIsRefused() {
        let webhook = SonarWebhook(secret: Self.secret)
        #expect(throws: SonarWebhookRefusal.missingSignature) { try webhook.receive(body: Self.body, signature: nil) }
        #expect(throws: SonarWebhookRefusal.missingSignature) { try webhook.receive(body: Self.body, signature: "") }
        #expect(throws: SonarWebhookRefusal.badSignature) { try webhook.receive(body: Self.body, signature: Self.sign(Self.body, "another-secret")) }
        #expect(throws: SonarWebhookRefusal.badSignature) { try webhook.receive(body: Self.body, signature: "not hex at all") }
        var tampered = Self.body
        tampered.replaceSubrange(tampered.range(of: Data("SUCCESS".utf8))!, with: Data("FAILED!".utf8))
        #expect(throws: SonarWebhookRefusal.badSignature) { try webhook.receive(body: tampered, signature: Self.sign(Self.body, Self.secret)) }
        let notAPayload = Data(#"{"hello": "world"}"#.utf8)
        #expect(throws: SonarWebhookRefusal.self) { try webhook.receive(body: notAPayload, signature: Self.sign(notAPayload, Self.secret)) }
    }

    @Test func projectKeysNameTheVersionRepositoryAndCommit() {
        #expect(SonarProjectKey.make(version: "7", repository: "acme/api", commit: "c739069ec7105e01") == "buildrisk_7_acme_api_c739069ec7105e01")
        #expect(SonarProjectKey.make(pattern: "{owner}:{name}:{short}", version: "7", repository: "acme/my api", commit: "c739069ec7105e01303e") == "acme:my_api:c739069ec710")
    }
}

/// The SonarQube emulator on a free port with a webhook receiver beside it that uses the bridge's verification.
struct SonarQubeHarness: Sendable {
    let emulator: SonarQubeEmulator
    let baseURL: String
    let token: String
    let secret: String
    let accepted: Locked<[SonarWebhookPayload]>
    let refused: Locked<[SonarWebhookRefusal]>

    var configuration: SonarQubeConfiguration {
        SonarQubeConfiguration(scannerExecutable: emulatorPath("sonar-scanner-emulator"), hostURL: baseURL, token: token, webhookSecret: secret, timeout: .seconds(60))
    }

    var client: SonarQubeClient { SonarQubeClient(httpClient: .shared, baseURL: baseURL, token: token) }

    /// A source tree whose measures the test knows: 2 files, 12 lines, 2 comment lines, 9 lines of
    /// code, 2 functions, complexity 3 (each function 1, one `if`).
    static let sources: [String: String] = [
        "Sources/Greeter.swift": """
        // Greets people.
        import Foundation

        func greet(_ name: String) -> String {
            if name.isEmpty {
                return "nobody"
            }
            return "hello " + name
        }

        """,
        "tools/add.py": "# Adds.\ndef add(a, b):\n    return a + b\n",
    ]

    static func with<T: Sendable>(_ body: @Sendable (SonarQubeHarness) async throws -> T) async throws -> T {
        let sonarPort = freePort()
        let receiverPort = freePort()
        let secret = "webhook-secret-\(UUID().uuidString)"
        let baseURL = "http://127.0.0.1:\(sonarPort)"
        let emulator = SonarQubeEmulator(
            configuration: .init(serverURL: baseURL, token: "squ_test_token", webhookURL: "http://127.0.0.1:\(receiverPort)/webhooks/sonarqube", webhookSecret: secret),
            logger: TestEnvironment.logger)
        let harness = SonarQubeHarness(emulator: emulator, baseURL: baseURL, token: "squ_test_token", secret: secret, accepted: Locked([]), refused: Locked([]))
        let webhook = SonarWebhook(secret: secret)
        let receiver = Router()
        receiver.post("/webhooks/sonarqube") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let signature = request.headers[HTTPField.Name(SonarWebhook.signatureHeader)!]
            do throws(SonarWebhookRefusal) {
                let payload = try webhook.receive(body: Data(buffer: body), signature: signature)
                harness.accepted.update { $0.append(payload) }
                return Response(status: .ok)
            } catch {
                harness.refused.update { $0.append(error) }
                return Response(status: .unauthorized)
            }
        }
        let sonar = Application(router: emulator.router(), configuration: .init(address: .hostname("127.0.0.1", port: sonarPort)), logger: TestEnvironment.logger)
        let hook = Application(router: receiver, configuration: .init(address: .hostname("127.0.0.1", port: receiverPort)), logger: TestEnvironment.logger)
        let group = ServiceGroup(configuration: .init(services: [sonar, hook, emulator], gracefulShutdownSignals: [], logger: TestEnvironment.logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try await waitUntil("the SonarQube emulator answers", timeout: startupTimeout) {
                (try? await HTTPClient.shared.execute(HTTPClientRequest(url: baseURL + "/_emulator/deliveries"), timeout: .seconds(2)))?.status == .ok
            }
            let result = try await body(harness)
            await group.triggerGracefulShutdown()
            return result
        }
    }
}

struct SonarQubeTests {
    @Test func aSubmissionEndsInASignedWebhookAndTheMeasuresArriveAsSelectedMetrics() async throws {
        try await SonarQubeHarness.with { sonar in
            let worktree = try temporaryDirectory(SonarQubeHarness.sources)
            defer { try? FileManager.default.removeItem(atPath: worktree) }
            let key = SonarProjectKey.make(version: "3", repository: "acme/api", commit: "9f8e7d6c5b4a")
            let submission = try await SonarScanner(configuration: sonar.configuration).submit(
                worktree: worktree, projectKey: key, extraProperties: ["sonar.analysis.buildriskVersion": "3"])
            #expect(submission.projectKey == key)
            try await waitUntil("the webhook arrives") { sonar.accepted.value.contains { $0.taskId == submission.ceTaskID } }
            let payload = try #require(sonar.accepted.value.first { $0.taskId == submission.ceTaskID })
            #expect(payload.status == "SUCCESS")
            #expect(payload.project.key == key)
            #expect(payload.properties?["sonar.analysis.buildriskVersion"] == "3")
            #expect(sonar.refused.value.isEmpty)

            let task = try await sonar.client.task(id: submission.ceTaskID)
            #expect(task.status == "SUCCESS")
            #expect(task.componentKey == key)
            let metrics = try await sonar.client.metrics(
                component: key, selection: ["sonar_ncloc", "sonar_lines", "sonar_files", "sonar_functions", "sonar_complexity", "sonar_comment_lines", "sonar_bugs"])
            #expect(metrics == ScanMetrics([
                "sonar_ncloc": 9, "sonar_lines": 12, "sonar_files": 2, "sonar_functions": 2, "sonar_complexity": 3, "sonar_comment_lines": 2, "sonar_bugs": 0,
            ]))
            // The default selection reads the issue's list; coverage arrives as the string "0.0".
            let all = try await sonar.client.metrics(component: key)
            #expect(all["sonar_coverage"] == 0)
            #expect(all["sonar_ncloc"] == 9)
            #expect(all.values.keys.allSatisfy { $0.hasPrefix("sonar_") })
        }
    }

    @Test func aBadOrMissingSignatureIsRefusedAndAFailedAnalysisCarriesItsReason() async throws {
        try await SonarQubeHarness.with { sonar in
            let worktree = try temporaryDirectory(SonarQubeHarness.sources)
            defer { try? FileManager.default.removeItem(atPath: worktree) }
            let scanner = SonarScanner(configuration: sonar.configuration)

            var faults = SonarEmulatorFaults()
            faults.badSignature = true
            sonar.emulator.faults = faults
            let forged = try await scanner.submit(worktree: worktree, projectKey: "buildrisk_forged")
            try await waitUntil("the forged webhook is delivered") { sonar.emulator.deliveries.contains { $0.taskId == forged.ceTaskID } }
            faults.badSignature = false
            faults.omitSignature = true
            sonar.emulator.faults = faults
            let unsigned = try await scanner.submit(worktree: worktree, projectKey: "buildrisk_unsigned")
            try await waitUntil("the unsigned webhook is delivered") { sonar.emulator.deliveries.contains { $0.taskId == unsigned.ceTaskID } }
            #expect(sonar.emulator.deliveries.map(\.responseStatus) == [401, 401])
            #expect(sonar.refused.value == [.badSignature, .missingSignature])
            #expect(sonar.accepted.value.isEmpty)

            faults.omitSignature = false
            faults.failAnalyses = true
            faults.failureMessage = "The analysis report is corrupted"
            sonar.emulator.faults = faults
            let failed = try await scanner.submit(worktree: worktree, projectKey: "buildrisk_failed")
            try await waitUntil("the failed analysis is reported") { sonar.accepted.value.contains { $0.taskId == failed.ceTaskID } }
            #expect(sonar.accepted.value.first?.status == "FAILED")
            #expect(sonar.accepted.value.first?.qualityGate == nil)
            let task = try await sonar.client.task(id: failed.ceTaskID)
            #expect(task.status == "FAILED")
            #expect(task.errorMessage == "The analysis report is corrupted")
            // A failed analysis leaves the component without measures.
            do throws(ScanFailure) {
                _ = try await sonar.client.metrics(component: "buildrisk_failed")
                Issue.record("a failed analysis has measures")
            } catch {
                #expect(error.kind == .serverFailed)
                #expect(error.reason.contains("not found"))
            }
        }
    }

    @Test func aScannerWithTheWrongTokenFailsWithSonarQubesWords() async throws {
        try await SonarQubeHarness.with { sonar in
            let worktree = try temporaryDirectory(SonarQubeHarness.sources)
            defer { try? FileManager.default.removeItem(atPath: worktree) }
            var configuration = sonar.configuration
            configuration.token = "squ_wrong"
            do throws(ScanFailure) {
                _ = try await SonarScanner(configuration: configuration).submit(worktree: worktree, projectKey: "buildrisk_denied")
                Issue.record("a wrong token was accepted")
            } catch {
                #expect(error.kind == .toolFailed)
                #expect(error.reason.contains("Not authorized"))
            }
            #expect(sonar.emulator.deliveries.isEmpty)
        }
    }
}
