import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRuntime
import Foundation
import IngestorCore
import Testing

/// Every setting is read one way (environment, then flags), declared by its owner, and a bad
/// value stops the service at start with the variable's name.
struct ConfigurationTests {
    static let base = [
        "BUILDRISK_SERVICE_SECRET": TestEnvironment.secret,
        "DATABASE_URL": "postgres://app:pw@127.0.0.1:1/buildrisk",
    ]

    @Test func theIngestorsOwnSettingsAreReadFromTheEnvironmentAndFlags() throws {
        let configuration = try ServiceConfiguration.load(
            .ingestor, settings: IngestorService.settings,
            environment: Self.base.merging([
                "INGESTOR_MAX_LOG_MB": "12", "INGESTOR_LOG_CONCURRENCY": "3", "GITHUB_TOKEN": "one-token",
                "GIT_SSL_CA_FILE": TestEnvironment.tls.caCertificatePath,
            ]) { $1 },
            arguments: ["--log-concurrency", "9", "--github-api-url=http://127.0.0.1:9100"])
        let ingestor = try IngestorConfiguration(environment: configuration.environment)
        #expect(ingestor.maxLogBytes == 12 << 20)
        #expect(ingestor.logConcurrency == 9)
        #expect(ingestor.cloneTimeout == IngestorConfiguration().cloneTimeout)
        #expect(ingestor.gitCAFile == TestEnvironment.tls.caCertificatePath)
        #expect(IngestorConfiguration().gitCAFile == nil)
        let github = try GitHubConfiguration(environment: configuration.environment)
        #expect(github.baseURL == "http://127.0.0.1:9100")
        #expect(github.tokens == ["one-token"])
        #expect(try GitHubConfiguration(environment: ["GITHUB_TOKENS": "a, b", "GITHUB_TOKEN": "c"]).tokens == ["a", "b"])
    }

    @Test(arguments: [
        ("INGESTOR_MAX_LOG_MB", "lots"), ("INGESTOR_LOG_CONCURRENCY", "100"), ("INGESTOR_CLONE_TIMEOUT_SECONDS", "-3"),
        ("INGESTOR_WORKTREE_BUDGET_MB", "0"), ("BUILDRISK_JOB_CONCURRENCY", "many"),
        // A CA bundle that is not there, or holds no certificate (a key, say).
        ("GIT_SSL_CA_FILE", "/nonexistent/ca.pem"), ("GIT_SSL_CA_FILE", TestEnvironment.tls.directory + "/ca.key"),
    ])
    func aBadValueIsRefusedWithTheVariablesName(name: String, value: String) throws {
        let error = try #require(throws: ConfigurationError.self) {
            try ServiceConfiguration.load(.ingestor, settings: IngestorService.settings, environment: Self.base.merging([name: value]) { $1 }, arguments: [])
        }
        #expect(error.description.contains(name))
        #expect(error.description.contains("'\(value)'"))
    }

    @Test func aFlagNoSettingReadsIsRefusedAndSecretsStayOutOfErrors() throws {
        let flag = try #require(throws: ConfigurationError.self) {
            try ServiceConfiguration.load(.ingestor, settings: IngestorService.settings, environment: Self.base, arguments: ["--colour", "blue"])
        }
        #expect(flag.description.contains("--colour"))
        // The gateway reads no GitHub setting.
        #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration.load(.gateway, environment: Self.base, arguments: ["--github-api-url", "http://x"])
        }
        let secret = try #require(throws: ConfigurationError.self) {
            try ServiceConfiguration(service: .ingestor, environment: Self.base.merging(["BUILDRISK_SERVICE_SECRET": "short-secret"]) { $1 })
        }
        #expect(secret.description.contains("BUILDRISK_SERVICE_SECRET"))
        #expect(!secret.description.contains("short-secret"))
        let url = try #require(throws: ConfigurationError.self) {
            try ServiceConfiguration(service: .ingestor, environment: Self.base.merging(["DATABASE_URL": "mysql://root:hunter2@db"]) { $1 })
        }
        #expect(url.description.contains("DATABASE_URL"))
        #expect(!url.description.contains("hunter2"))
    }

    /// The executable itself: a bad value of the ingestor's own stops it before it starts anything.
    @Test func theIngestorExecutableStopsAtStartOnABadValue() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("buildrisk-config-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try ChildProcess(
            executable: "ingestor", environment: Self.base.merging(["INGESTOR_LOG_CONCURRENCY": "100"]) { $1 }, logPath: log)
        await process.waitForExit()
        #expect(process.process.terminationStatus == 2)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("INGESTOR_LOG_CONCURRENCY must be an integer in 1...64, got '100'"))
    }

    /// The README's configuration table names every setting a service reads, with its default,
    /// and nothing the services do not read (the scripts' own variables aside).
    @Test func theReadmeDocumentsEverySettingWithItsDefault() throws {
        let text = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Configuration").dropFirst().first?.components(separatedBy: "\n## ").first)
        var rows: [String: (defaultText: String, meaning: String)] = [:]
        for line in section.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3 else { continue }
            let names = cells[0].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }
            for name in names { rows[name] = (cells[1].replacingOccurrences(of: "`", with: ""), cells[2]) }
        }
        var declared: [String: SettingDeclaration] = [:]
        for service in ServiceName.allCases {
            for setting in ServiceConfiguration.settings(for: service) + definition(of: service).settings {
                declared[setting.documentedName] = setting
            }
        }
        for (name, setting) in declared {
            let row = rows[name]
            #expect(row != nil, "README's configuration table lacks \(name) (\(setting.meaning))")
            if let row, let defaultText = setting.defaultText {
                #expect(row.defaultText == defaultText, "README says \(name) defaults to \(row.defaultText), the code \(defaultText)")
            }
        }
        for (name, row) in rows where !row.meaning.hasPrefix("scripts/") {
            #expect(declared[name] != nil, "README documents \(name), which no service reads")
        }
    }
}
