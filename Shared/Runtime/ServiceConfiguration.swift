import BuildRiskContracts
import Foundation
import Logging

/// Why a service could not read its configuration.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Everything a service reads at start, from command-line flags and then the environment,
/// as one typed value passed down (no globals). Secrets are kept out of `description`.
public struct ServiceConfiguration: Sendable, CustomStringConvertible {
    public var service: ServiceName
    /// Address the servers bind to (`BUILDRISK_HOST`).
    public var host: String
    /// The internal TLS port serving `/rpc`, `/health`, `/ready`, `/metrics`, `/admin/` (`<PREFIX>_PORT`).
    public var port: Int
    /// Gateway only: the public REST port, plain HTTP/1.1 (`GATEWAY_PUBLIC_PORT`).
    public var publicPort: Int?
    /// How each service is reached (`<PREFIX>_URL`), always https.
    public var serviceURLs: [ServiceName: String]
    /// This service's own database role (`<PREFIX>_DATABASE_URL`, or derived from `DATABASE_URL`).
    public var database: DatabaseURL
    /// Directory with `ca.pem` and `<service>.pem` / `<service>.key` (`BUILDRISK_TLS_DIR`).
    public var tlsDirectory: String
    /// Shared secret behind service tokens and derived database passwords (`BUILDRISK_SERVICE_SECRET`).
    public var serviceSecret: String
    /// Token for `/admin/` endpoints (`BUILDRISK_ADMIN_TOKEN`); the gateway seeds its first admin with it.
    public var adminToken: String?
    /// Root of repositories, worktrees and logs (`BUILDRISK_DATA_DIR`).
    public var dataDirectory: String
    public var logLevel: Logger.Level
    public var databasePoolSize: Int
    public var jobConcurrency: Int
    public var jobLease: Duration
    public var rpcMaxBodyBytes: Int
    public var rpcTimeout: Duration

    /// Every environment variable a service reads; the compose-file test checks against this list.
    public static func environmentKeys(for service: ServiceName) -> [String] {
        var keys = [
            "DATABASE_URL", "BUILDRISK_HOST", "BUILDRISK_TLS_DIR", "BUILDRISK_SERVICE_SECRET",
            "BUILDRISK_ADMIN_TOKEN", "BUILDRISK_DATA_DIR", "BUILDRISK_LOG_LEVEL", "BUILDRISK_DB_POOL_SIZE",
            "BUILDRISK_JOB_CONCURRENCY", "BUILDRISK_JOB_LEASE_SECONDS", "BUILDRISK_RPC_MAX_BODY_BYTES",
            "BUILDRISK_RPC_TIMEOUT_SECONDS",
            "\(service.environmentPrefix)_PORT", "\(service.environmentPrefix)_DATABASE_URL",
        ]
        keys += ServiceName.allCases.map { "\($0.environmentPrefix)_URL" }
        if service == .gateway { keys.append("GATEWAY_PUBLIC_PORT") }
        // Read by the GitHub client (GitHubConfiguration) of the services that talk to GitHub.
        if service == .sourceValidator || service == .ingestor { keys += ["GITHUB_API_URL", "GITHUB_TOKENS", "GITHUB_SECONDARY_WAIT_SECONDS"] }
        // Read by the ingestor (IngestorConfiguration).
        if service == .ingestor {
            keys += ["INGESTOR_WORKTREE_BUDGET_MB", "INGESTOR_MAX_LOG_MB", "INGESTOR_CLONE_TIMEOUT_SECONDS", "INGESTOR_LOG_TIMEOUT_SECONDS", "INGESTOR_LOG_CONCURRENCY", "INGESTOR_LOG_STALL_SECONDS"]
        }
        return keys
    }

    /// Reads the configuration of `service`. Flags `--name value` or `--name=value` override the
    /// environment; `--port 9000` sets `<PREFIX>_PORT`, `--log-level debug` sets `BUILDRISK_LOG_LEVEL`.
    public static func load(
        _ service: ServiceName,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        arguments: [String] = Array(CommandLine.arguments.dropFirst())
    ) throws -> ServiceConfiguration {
        var env = environment
        for (flag, value) in try parseFlags(arguments) {
            let key = flag.uppercased().replacingOccurrences(of: "-", with: "_")
            let prefixed = "\(service.environmentPrefix)_\(key)"
            if ["PORT", "URL", "DATABASE_URL", "PUBLIC_PORT"].contains(key) {
                env[prefixed] = value
            } else {
                env["BUILDRISK_\(key)"] = value
            }
        }
        return try ServiceConfiguration(service: service, environment: env)
    }

    public init(service: ServiceName, environment env: [String: String]) throws {
        func int(_ key: String, _ fallback: Int, range: ClosedRange<Int> = 1...Int.max) throws -> Int {
            guard let text = env[key], !text.isEmpty else { return fallback }
            guard let value = Int(text), range.contains(value) else {
                throw ConfigurationError("\(key) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            return value
        }
        self.service = service
        host = env["BUILDRISK_HOST"] ?? "127.0.0.1"
        port = try int("\(service.environmentPrefix)_PORT", service.defaultPort, range: 0...65535)
        publicPort = service == .gateway ? try int("GATEWAY_PUBLIC_PORT", 8080, range: 0...65535) : nil
        var urls: [ServiceName: String] = [:]
        for other in ServiceName.allCases {
            let otherPort = try int("\(other.environmentPrefix)_PORT", other.defaultPort, range: 0...65535)
            urls[other] = env["\(other.environmentPrefix)_URL"] ?? "https://127.0.0.1:\(otherPort)"
        }
        serviceURLs = urls
        guard let secret = env["BUILDRISK_SERVICE_SECRET"], secret.count >= 16 else {
            throw ConfigurationError("BUILDRISK_SERVICE_SECRET must be set (at least 16 characters); scripts/up generates one")
        }
        serviceSecret = secret
        if let own = env["\(service.environmentPrefix)_DATABASE_URL"], !own.isEmpty {
            database = try DatabaseURL(parsing: own)
        } else if let shared = env["DATABASE_URL"], !shared.isEmpty {
            database = try DatabaseURL(parsing: shared).forRole(
                service.databaseRole, password: ServiceTokens(secret: secret).databasePassword(for: service.schema))
        } else {
            throw ConfigurationError("\(service.environmentPrefix)_DATABASE_URL or DATABASE_URL must be set")
        }
        tlsDirectory = env["BUILDRISK_TLS_DIR"] ?? ".buildrisk/tls"
        adminToken = env["BUILDRISK_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        dataDirectory = env["BUILDRISK_DATA_DIR"] ?? ".buildrisk/data"
        let level = env["BUILDRISK_LOG_LEVEL"] ?? "info"
        guard let parsedLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError("BUILDRISK_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical; got '\(level)'")
        }
        logLevel = parsedLevel
        databasePoolSize = try int("BUILDRISK_DB_POOL_SIZE", 10, range: 2...500)
        jobConcurrency = try int("BUILDRISK_JOB_CONCURRENCY", 4, range: 1...256)
        jobLease = .seconds(try int("BUILDRISK_JOB_LEASE_SECONDS", 30, range: 1...86_400))
        rpcMaxBodyBytes = try int("BUILDRISK_RPC_MAX_BODY_BYTES", 4 * 1024 * 1024, range: 1024...1_073_741_824)
        rpcTimeout = .seconds(try int("BUILDRISK_RPC_TIMEOUT_SECONDS", 30, range: 1...3600))
    }

    public var description: String {
        "\(service.rawValue) on \(host):\(port)\(publicPort.map { " (public \($0))" } ?? ""), database \(database), tls \(tlsDirectory), data \(dataDirectory)"
    }

    static func parseFlags(_ arguments: [String]) throws -> [(String, String)] {
        var flags: [(String, String)] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigurationError("unexpected argument '\(argument)'; flags are --name value or --name=value")
            }
            let body = argument.dropFirst(2)
            if let equals = body.firstIndex(of: "=") {
                flags.append((String(body[..<equals]), String(body[body.index(after: equals)...])))
            } else {
                let next = arguments.index(after: index)
                guard next < arguments.endIndex else { throw ConfigurationError("flag \(argument) needs a value") }
                flags.append((String(body), arguments[next]))
                index = next
            }
            index = arguments.index(after: index)
        }
        return flags
    }
}

/// A parsed `postgres://user:password@host:port/database` URL; the password never prints.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public var username: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String

    public init(username: String, password: String?, host: String, port: Int, database: String) {
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.database = database
    }

    public init(parsing text: String) throws {
        guard let components = URLComponents(string: text),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else {
            throw ConfigurationError("a database URL must look like postgres://user:password@host:port/database")
        }
        username = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.host = host
        port = components.port ?? 5432
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? username : path
    }

    /// The same server and database, as another role.
    public func forRole(_ role: String, password: String) -> DatabaseURL {
        DatabaseURL(username: role, password: password, host: host, port: port, database: database)
    }

    /// The URL with its password, for tools that hand it to another process.
    public var urlString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = username
        components.password = password
        components.host = host
        components.port = port
        components.path = "/" + database
        return components.string ?? "postgres://\(username)@\(host):\(port)/\(database)"
    }

    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}
