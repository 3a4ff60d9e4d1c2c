import BuildRiskContracts
import Logging

/// The settings the shared runtime reads for every service (``ServiceConfiguration``); the
/// README's configuration table and docker-compose.yml are checked against them.
public enum RuntimeSettings {
    public static let serviceSecret = Setting<String>(
        "BUILDRISK_SERVICE_SECRET",
        default: try ConfigurationError.missing("BUILDRISK_SERVICE_SECRET must be set (at least 16 characters); scripts/up generates one"),
        defaultText: nil, expected: "at least 16 characters", secret: true,
        meaning: "shared secret behind service tokens and derived database passwords"
    ) { $0.count >= 16 ? $0 : nil }
    public static let adminToken: Setting<String?> = .optionalText(
        "BUILDRISK_ADMIN_TOKEN", meaning: "token for /admin/ on every service; the gateway's first admin gets it")
    public static let sharedDatabaseURL = database(
        "DATABASE_URL", documentedAs: "DATABASE_URL",
        meaning: "the server and database; a service without <PREFIX>_DATABASE_URL connects as buildrisk_<schema>")
    public static func databaseURL(of service: ServiceName) -> Setting<DatabaseURL?> {
        database("\(service.environmentPrefix)_DATABASE_URL", documentedAs: "<PREFIX>_DATABASE_URL", meaning: "the service's own connection (its role)")
    }
    public static func port(of service: ServiceName) -> Setting<Int> {
        Setting(
            "\(service.environmentPrefix)_PORT", default: service.defaultPort, defaultText: nil, expected: "an integer in 0...65535",
            documentedAs: "<PREFIX>_PORT", meaning: "the service's internal TLS port"
        ) { Int($0).flatMap { (0...65535).contains($0) ? $0 : nil } }
    }
    public static func url(of service: ServiceName) -> Setting<String?> {
        .optionalText("\(service.environmentPrefix)_URL", documentedAs: "<PREFIX>_URL", meaning: "how the other services reach it")
    }
    public static let gatewayPublicPort: Setting<Int> = .integer(
        "GATEWAY_PUBLIC_PORT", default: 8080, in: 0...65535, meaning: "the gateway's public REST port (plain HTTP/1.1)")
    public static let host: Setting<String> = .text("BUILDRISK_HOST", default: "127.0.0.1", meaning: "address the servers bind to")
    public static let tlsDirectory: Setting<String> = .text(
        "BUILDRISK_TLS_DIR", default: ".buildrisk/tls", meaning: "ca.pem and <service>.pem/<service>.key (buildrisk-admin tls-init)")
    public static let dataDirectory: Setting<String> = .text("BUILDRISK_DATA_DIR", default: ".buildrisk/data", meaning: "repositories, worktrees, logs")
    public static let logLevel = Setting<Logger.Level>(
        "BUILDRISK_LOG_LEVEL", default: .info, defaultText: "info",
        expected: "one of trace, debug, info, notice, warning, error, critical", meaning: "how much the service logs"
    ) { Logger.Level(rawValue: $0) }
    public static let databasePoolSize: Setting<Int> = .integer(
        "BUILDRISK_DB_POOL_SIZE", default: 10, in: 2...500, meaning: "PostgreSQL connections per service")
    public static let jobConcurrency: Setting<Int> = .integer(
        "BUILDRISK_JOB_CONCURRENCY", default: 4, in: 1...256, meaning: "jobs a service runs at once")
    public static let jobLease: Setting<Duration> = .seconds(
        "BUILDRISK_JOB_LEASE_SECONDS", default: 30, in: 1...86_400, meaning: "job lease; a dead worker's jobs return after it")
    public static let rpcMaxBodyBytes: Setting<Int> = .integer(
        "BUILDRISK_RPC_MAX_BODY_BYTES", default: 4 * 1024 * 1024, in: 1024...1_073_741_824, meaning: "largest accepted /rpc body")
    public static let rpcTimeout: Setting<Duration> = .seconds(
        "BUILDRISK_RPC_TIMEOUT_SECONDS", default: 30, in: 1...3600, meaning: "default deadline of an outgoing call")

    static func database(_ name: String, documentedAs: String, meaning: String) -> Setting<DatabaseURL?> {
        Setting<DatabaseURL?>(
            name, default: nil, defaultText: nil, expected: "a URL like postgres://user:password@host:port/database",
            documentedAs: documentedAs, secret: true, meaning: meaning
        ) { text -> DatabaseURL?? in
            // The outer optional says whether the text parsed; a bare `try?` would read a bad URL as unset.
            guard let url = try? DatabaseURL(parsing: text) else { return nil }
            return .some(url)
        }
    }
}
