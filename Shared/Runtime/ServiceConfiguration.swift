import BuildRiskContracts
import Foundation
import Logging

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
    /// The environment with the flags applied: a service reads its own declared settings from it
    /// (`try setting.read(configuration.environment)`). It holds secrets; never print it.
    public var environment: [String: String]

    /// Reads the configuration of `service`, whose own settings are `settings` (checked here, so a
    /// bad value stops the service at start). Flags `--name value` or `--name=value` override the
    /// environment: `--name` sets `<PREFIX>_NAME`, `BUILDRISK_NAME` or `NAME`, whichever of them
    /// the service reads (`--port 9000` sets `<PREFIX>_PORT`, `--log-level debug`
    /// `BUILDRISK_LOG_LEVEL`, `--github-api-url` `GITHUB_API_URL`); a flag it does not read is refused.
    public static func load(
        _ service: ServiceName, settings: [SettingDeclaration] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        arguments: [String] = Array(CommandLine.arguments.dropFirst())
    ) throws -> ServiceConfiguration {
        var env = environment
        let known = Set((Self.settings(for: service) + settings).map(\.name))
        for (flag, value) in try parseFlags(arguments) {
            let key = flag.uppercased().replacingOccurrences(of: "-", with: "_")
            guard let name = ["\(service.environmentPrefix)_\(key)", "BUILDRISK_\(key)", key].first(where: known.contains) else {
                throw ConfigurationError("unknown flag --\(flag): \(service.rawValue) reads none of \(service.environmentPrefix)_\(key), BUILDRISK_\(key), \(key)")
            }
            env[name] = value
        }
        return try ServiceConfiguration(service: service, settings: settings, environment: env)
    }

    /// The configuration in `environment`; `settings` are the service's own, checked here too.
    public init(service: ServiceName, settings: [SettingDeclaration] = [], environment env: [String: String]) throws {
        typealias Runtime = RuntimeSettings
        self.service = service
        environment = env
        host = try Runtime.host.read(env)
        port = try Runtime.port(of: service).read(env)
        publicPort = service == .gateway ? try Runtime.gatewayPublicPort.read(env) : nil
        var urls: [ServiceName: String] = [:]
        for other in ServiceName.allCases {
            let otherPort = try Runtime.port(of: other).read(env)
            urls[other] = try Runtime.url(of: other).read(env) ?? "https://127.0.0.1:\(otherPort)"
        }
        serviceURLs = urls
        let secret = try Runtime.serviceSecret.read(env)
        serviceSecret = secret
        if let own = try Runtime.databaseURL(of: service).read(env) {
            database = own
        } else if let shared = try Runtime.sharedDatabaseURL.read(env) {
            database = shared.forRole(service.databaseRole, password: ServiceTokens(secret: secret).databasePassword(for: service.schema))
        } else {
            throw ConfigurationError("\(service.environmentPrefix)_DATABASE_URL or DATABASE_URL must be set")
        }
        tlsDirectory = try Runtime.tlsDirectory.read(env)
        adminToken = try Runtime.adminToken.read(env)
        dataDirectory = try Runtime.dataDirectory.read(env)
        logLevel = try Runtime.logLevel.read(env)
        databasePoolSize = try Runtime.databasePoolSize.read(env)
        jobConcurrency = try Runtime.jobConcurrency.read(env)
        jobLease = try Runtime.jobLease.read(env)
        rpcMaxBodyBytes = try Runtime.rpcMaxBodyBytes.read(env)
        rpcTimeout = try Runtime.rpcTimeout.read(env)
        for setting in settings { try setting.validate(env) }
    }

    /// Every setting the runtime reads for `service` (a service's definition adds its own).
    public static func settings(for service: ServiceName) -> [SettingDeclaration] {
        typealias Runtime = RuntimeSettings
        var settings = [
            Runtime.serviceSecret.declaration, Runtime.adminToken.declaration, Runtime.sharedDatabaseURL.declaration,
            Runtime.databaseURL(of: service).declaration,
        ]
        settings += ServiceName.allCases.map { Runtime.port(of: $0).declaration }
        settings += ServiceName.allCases.map { Runtime.url(of: $0).declaration }
        if service == .gateway { settings.append(Runtime.gatewayPublicPort.declaration) }
        settings += [
            Runtime.host.declaration, Runtime.tlsDirectory.declaration, Runtime.dataDirectory.declaration,
            Runtime.logLevel.declaration, Runtime.databasePoolSize.declaration, Runtime.jobConcurrency.declaration,
            Runtime.jobLease.declaration, Runtime.rpcMaxBodyBytes.declaration, Runtime.rpcTimeout.declaration,
        ]
        return settings
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
