import BuildRiskContracts
import Foundation

/// The scanner-bridge's own settings, read from the environment once at start.
public struct ScannerBridgeConfiguration: Sendable {
    public var trivy: TrivyConfiguration
    public var sonar: SonarQubeConfiguration
    /// The public listener for SonarQube's webhook (`POST /webhooks/sonarqube`); nil serves none.
    public var webhookPort: Int?
    /// Scans queued to start together; the next batch starts `batchInterval` later.
    public var batchSize: Int
    public var batchInterval: Duration

    public init(trivy: TrivyConfiguration, sonar: SonarQubeConfiguration, webhookPort: Int?, batchSize: Int = 20, batchInterval: Duration = .seconds(10)) {
        self.trivy = trivy
        self.sonar = sonar
        self.webhookPort = webhookPort
        self.batchSize = batchSize
        self.batchInterval = batchInterval
    }

    /// The settings the scanner-bridge reads besides the runtime's.
    public static let settings = [
        trivyPath.declaration, trivyServerURL.declaration, trivyTimeout.declaration, sonarScannerPath.declaration, sonarURL.declaration,
        sonarToken.declaration, webhookSecret.declaration, webhookPortSetting.declaration, batchSizeSetting.declaration,
        batchIntervalSetting.declaration,
    ]
    static let trivyPath: Setting<String> = .text("TRIVY_PATH", default: "/usr/local/bin/trivy", meaning: "the trivy executable (scripts/up points it at the emulator)")
    static let trivyServerURL: Setting<String?> = .optionalText(
        "TRIVY_SERVER_URL", meaning: "a Trivy server (`trivy server`) scans run against (`--server`); unset scans standalone")
    static let trivyTimeout: Setting<Duration> = .seconds(
        "TRIVY_TIMEOUT_SECONDS", default: 600, in: 1...86_400, meaning: "one trivy run's limit; a run past it is retried twice with backoff, then the scan fails")
    static let sonarScannerPath: Setting<String> = .text(
        "SONAR_SCANNER_PATH", default: "/opt/sonar-scanner/bin/sonar-scanner", meaning: "the sonar-scanner executable")
    static let sonarURL: Setting<String> = .text(
        "SONARQUBE_URL", default: "http://127.0.0.1:9000", meaning: "the SonarQube server scans are submitted to and measures read from")
    static let sonarToken = Setting<String?>(
        "SONARQUBE_TOKEN", default: nil, defaultText: nil, expected: "text", secret: true,
        meaning: "SonarQube token for the scanner and the Web API (never logged)") { $0 }
    static let webhookSecret = Setting<String?>(
        "SONARQUBE_WEBHOOK_SECRET", default: nil, defaultText: nil, expected: "text", secret: true,
        meaning: "the secret SonarQube signs webhooks with; unset refuses every delivery (never logged)") { $0 }
    static let webhookPortSetting: Setting<Int> = .integer(
        "SCANNER_BRIDGE_PUBLIC_PORT", default: 8090, in: 0...65535,
        meaning: "the scanner-bridge's public port for SonarQube's webhook (`POST /webhooks/sonarqube`, plain HTTP/1.1); 0 serves none")
    static let batchSizeSetting: Setting<Int> = .integer(
        "SCANNER_BATCH_SIZE", default: 20, in: 1...10_000, meaning: "commit scans queued to start together")
    static let batchIntervalSetting: Setting<Duration> = .seconds(
        "SCANNER_BATCH_INTERVAL_SECONDS", default: 10, in: 0...86_400, meaning: "pause between the starts of two batches of commit scans")

    /// The settings as `environment` sets them; a bad value throws with the variable's name.
    public init(environment: [String: String]) throws {
        let port = try Self.webhookPortSetting.read(environment)
        self.init(
            trivy: TrivyConfiguration(
                executable: try Self.trivyPath.read(environment), serverURL: try Self.trivyServerURL.read(environment),
                timeout: try Self.trivyTimeout.read(environment)),
            sonar: SonarQubeConfiguration(
                scannerExecutable: try Self.sonarScannerPath.read(environment), hostURL: try Self.sonarURL.read(environment),
                token: try Self.sonarToken.read(environment) ?? "", webhookSecret: try Self.webhookSecret.read(environment) ?? ""),
            webhookPort: port == 0 ? nil : port,
            batchSize: try Self.batchSizeSetting.read(environment),
            batchInterval: try Self.batchIntervalSetting.read(environment))
    }
}
