import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskGitHub
import BuildRiskRPC
import BuildRiskRuntime
import DatasetSplitterCore
import FeatureExtractorCore
import Foundation
import GatewayCore
import GitHubSandboxCore
import HummingbirdWSClient
import IngestorCore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import ScannerBridgeCore
import PredictorCore
import SourceValidatorCore
import Synchronization
import Testing
import TrainingOrchestratorCore

/// Shared, process-wide test fixtures: the superuser database URL (from `DATABASE_URL`, which
/// scripts/test sets after starting PostgreSQL), one internal CA, one service secret.
enum TestEnvironment {
    static let secret = "test-secret-\(UUID().uuidString)"
    static let adminToken = "brk_test_admin_\(UUID().uuidString)"
    static let tokens = ServiceTokens(secret: secret)
    /// The GitHub tokens the test services' definitions carry (source-validator two, ingestor one).
    static let githubTokens = ["sandbox-token-1", "sandbox-token-2", "sandbox-token-3", "sandbox-token-4"]

    static let logger: Logger = {
        var logger = Logger(label: "buildrisk-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["BUILDRISK_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }()

    static func adminURL() throws -> DatabaseURL {
        guard let text = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            throw ConfigurationError("DATABASE_URL is not set: run the tests with scripts/test, which starts PostgreSQL")
        }
        return try DatabaseURL(parsing: text)
    }

    static let tlsDirectory: String = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("buildrisk-tests-tls-\(getpid())").path
        do {
            try TLSMaterial(directory: directory).ensure(names: ServiceName.allCases.map(\.rawValue) + ["job-probe"])
        } catch {
            fatalError("could not create test TLS material: \(error)")
        }
        return directory
    }()

    static var tls: TLSMaterial { TLSMaterial(directory: tlsDirectory) }

    /// One HTTP client for the whole test process (trusts the test CA; HTTP/2 where offered).
    static let httpClient: HTTPClient = {
        do {
            return try makeTestHTTPClient()
        } catch {
            fatalError("could not create the test HTTP client: \(error)")
        }
    }()

    /// The repository root (for contracts/ and docker-compose.yml).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where `swift build` put the executables (next to the test bundle).
    static let binDirectory: URL = {
        if let override = ProcessInfo.processInfo.environment["BUILDRISK_BIN_DIR"] {
            return URL(fileURLWithPath: override)
        }
        var candidate = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: candidate.appendingPathComponent("ingestor").path),
            let bundle = Bundle.main.executableURL?.deletingLastPathComponent()
        {
            candidate = bundle
        }
        if !FileManager.default.fileExists(atPath: candidate.appendingPathComponent("ingestor").path) {
            candidate = repositoryRoot.appendingPathComponent(".build/debug")
        }
        return candidate
    }()
}

/// A TCP port nobody listens on right now, and that nothing else will take first: it is drawn
/// below the kernel's ephemeral range (outgoing connections take their local ports from that range,
/// and one could take a port handed out here before its service binds it — a service that then
/// cannot start), and never handed out twice in this process.
func freePort() -> Int {
    let range = PortAllocator.range
    while true {
        let candidate = PortAllocator.handed.withLock { handed -> Int? in
            guard handed.count < range.count / 2 else { return nil }
            var port: Int
            repeat { port = Int.random(in: range) } while handed.contains(port)
            handed.insert(port)
            return port
        }
        guard let candidate else { fatalError("freePort: half of the ports \(range) are handed out") }
        if PortAllocator.canBind(candidate) { return candidate }
    }
}

enum PortAllocator {
    static let handed = Mutex<Set<Int>>([])

    /// 10000 up to the start of the ephemeral range (`ip_local_port_range`, 32768 by default).
    static let range: ClosedRange<Int> = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32768
        return 10000...max(first - 1, 12000)
    }()

    static func canBind(_ port: Int) -> Bool {
        onLoopback(port) { bind($0, $1, $2) } == 0
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port` (a TLS server is ready
    /// before anyone trusts its certificate).
    static func acceptsConnections(_ port: Int) -> Bool {
        onLoopback(port) { connect($0, $1, $2) } == 0
    }

    /// `call` with a new TCP socket and the address 127.0.0.1:`port`; the socket is closed after.
    private static func onLoopback(_ port: Int, _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(descriptor, $0, length) } }
    }
}

/// Ports and environment for a set of services that find each other, like scripts/up's.
struct TestCluster: Sendable {
    let database: TestDatabase
    let ports: [ServiceName: Int]
    let publicPort: Int
    let dataDirectory: String

    init(database: TestDatabase) {
        self.database = database
        var ports: [ServiceName: Int] = [:]
        for service in ServiceName.allCases { ports[service] = freePort() }
        self.ports = ports
        publicPort = freePort()
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("buildrisk-data-\(UUID().uuidString)").path
    }

    /// The environment a service process of this cluster gets.
    func environment(for service: ServiceName) -> [String: String] {
        var environment: [String: String] = [
            "BUILDRISK_SERVICE_SECRET": TestEnvironment.secret,
            "BUILDRISK_ADMIN_TOKEN": TestEnvironment.adminToken,
            "BUILDRISK_TLS_DIR": TestEnvironment.tlsDirectory,
            "BUILDRISK_DATA_DIR": dataDirectory,
            "BUILDRISK_LOG_LEVEL": "warning",
            // Each service holds two LISTEN connections (its job and outbox workers) and the ingestor an
            // advisory-lock one while it clones; with 4, calls waited 30 s for a connection on a loaded machine.
            "BUILDRISK_DB_POOL_SIZE": "8",
            "GATEWAY_PUBLIC_PORT": String(publicPort),
            // Tests that need SonarQube's webhook give the scanner-bridge a port of their own; a fixed default would collide.
            "SCANNER_BRIDGE_PUBLIC_PORT": "0",
            "\(service.environmentPrefix)_DATABASE_URL": database.url(forSchema: service.schema).urlString,
        ]
        for (other, port) in ports {
            environment["\(other.environmentPrefix)_PORT"] = String(port)
            environment["\(other.environmentPrefix)_URL"] = "https://127.0.0.1:\(port)"
        }
        return environment
    }

    func configuration(for service: ServiceName, overrides: [String: String] = [:]) throws -> ServiceConfiguration {
        try ServiceConfiguration(service: service, environment: environment(for: service).merging(overrides) { $1 })
    }

    var publicURL: String { "http://127.0.0.1:\(publicPort)" }
    func internalURL(_ service: ServiceName) -> String { "https://127.0.0.1:\(ports[service] ?? 0)" }
}

/// The definition the service executable runs (GitHub at `githubURL`; nowhere by default).
func definition(of service: ServiceName, githubURL: String = "http://127.0.0.1:9") -> ServiceDefinition {
    switch service {
    case .gateway: GatewayService.definition
    // A secondary limit of the sandbox lasts a second (SandboxFaults.secondaryRateLimitSeconds), GitHub's at least a minute.
    case .sourceValidator: SourceValidatorService.definition(github: GitHubConfiguration(baseURL: githubURL, tokens: Array(TestEnvironment.githubTokens[0...1]), secondaryRateLimitWait: .seconds(1)))
    case .ingestor: IngestorService.definition(github: GitHubConfiguration(baseURL: githubURL, tokens: [TestEnvironment.githubTokens[2]], secondaryRateLimitWait: .seconds(1)), configuration: IngestorConfiguration())
    case .featureExtractor: FeatureExtractorService.definition(github: GitHubConfiguration(baseURL: githubURL, tokens: [TestEnvironment.githubTokens[3]], secondaryRateLimitWait: .seconds(1)))
    case .scannerBridge: ScannerBridgeService.definition
    case .trainingOrchestrator: TrainingOrchestratorService.definition
    case .predictor: PredictorService.definition
    case .datasetSplitter: DatasetSplitterService.definition
    }
}

/// Runs services in this process until `body` returns, then shuts them down.
func withServices<T: Sendable>(
    _ runtimes: [ServiceRuntime], _ body: @Sendable () async throws -> T
) async throws -> T {
    // A service that stops before it is ready (its port taken, say) fails the wait at once, with its reason.
    let stopped = Locked<[ServiceName: String]>([:])
    return try await withThrowingTaskGroup(of: Void.self) { group in
        for runtime in runtimes {
            group.addTask {
                do {
                    try await runtime.run()
                } catch {
                    stopped.update { $0[runtime.environment.configuration.service] = String(reflecting: error) }
                    throw error
                }
            }
        }
        do {
            for runtime in runtimes {
                let service = runtime.environment.configuration.service
                try await waitUntil("\(service.rawValue) is ready", timeout: startupTimeout) {
                    if let reason = stopped.value[service] { throw WaitTimeout(description: "\(service.rawValue) stopped before it was ready: \(reason)") }
                    return await runtime.readinessReport().ready
                }
            }
            let result = try await body()
            for runtime in runtimes { await runtime.shutdown() }
            try await group.waitForAll()
            return result
        } catch {
            for runtime in runtimes { await runtime.shutdown() }
            try? await group.waitForAll()
            if error is PSQLError { throw SetUpError("a database call while services ran", error) }
            throw error
        }
    }
}

/// Builds a service of `cluster` in this process.
func makeRuntime(
    _ service: ServiceName, in cluster: TestCluster, definition custom: ServiceDefinition? = nil, overrides: [String: String] = [:],
    logger: Logger = TestEnvironment.logger
) throws -> ServiceRuntime {
    try buildService(
        try cluster.configuration(for: service, overrides: overrides), custom ?? definition(of: service),
        logger: logger, gracefulShutdownSignals: [])
}

struct WaitTimeout: Error, CustomStringConvertible {
    var description: String
}

/// How long a server a test started (a service, an emulator) may take to answer its first
/// request. Only load makes it slow: on a loaded two-core machine a start has taken over 30 s.
let startupTimeout = Duration.seconds(90)

/// Polls `condition` until it holds, failing after `timeout`.
func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw WaitTimeout(description: "timed out after \(timeout) waiting until \(what)")
}

/// An HTTP client for tests: trusts the test CA; HTTP/2 when the server offers it.
func makeTestHTTPClient() throws -> HTTPClient {
    ServiceDirectory.makeHTTPClient(tls: try TestEnvironment.tls.clientConfiguration())
}

/// Runs `body` with a client of its own (no connection left from a server stopped earlier), shut
/// down however `body` ends: an HTTPClient dropped without shutdown stops the whole test process.
func withTestHTTPClient<T: Sendable>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    let httpClient = try makeTestHTTPClient()
    let result: Result<T, any Error>
    do {
        result = .success(try await body(httpClient))
    } catch {
        result = .failure(error)
    }
    try? await httpClient.shutdown()
    return try result.get()
}

struct HTTPResult: Sendable {
    var status: Int
    var version: String
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw WaitTimeout(description: "not a JSON object: \(text)")
        }
        return object
    }
}

/// How long a test's own HTTP request may take before it counts as hung.
let requestTimeout: TimeAmount = .seconds(90)

/// One HTTP request.
func http(
    _ client: HTTPClient, _ method: NIOHTTP1.HTTPMethod, _ url: String, token: String? = nil, body: Data? = nil
) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
    if let body {
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: body))
    }
    // A loaded 2-core CI machine once took over 30 s to answer one request mid-suite (the request
    // was not lost, only slow); the deadline is for a hung server, not for a busy one.
    let response = try await client.execute(request, timeout: requestTimeout)
    var buffer = try await response.body.collect(upTo: 16 * 1024 * 1024)
    return HTTPResult(status: Int(response.status.code), version: "\(response.version)", body: buffer.readData(length: buffer.readableBytes) ?? Data())
}

/// A value behind a lock that closures running elsewhere can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    var value: Value { mutex.withLock { $0 } }

    func update(_ body: (inout Value) -> Void) {
        mutex.withLock { body(&$0) }
    }
}

/// The status a server on 127.0.0.1:`port` answers a WebSocket upgrade request for `path` with
/// (101 when it upgrades), read off the socket: WebSocket clients report a refusal without it.
func webSocketUpgradeStatus(port: Int, path: String) async throws -> Int {
    try await offThePool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw WaitTimeout(description: "could not connect to 127.0.0.1:\(port)") }
        let request = Array(("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").utf8)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw WaitTimeout(description: "the upgrade request could not be sent") }
            sent += count
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !answer.contains(UInt8(ascii: "\n")) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            answer += buffer[..<count]
        }
        let statusLine = String(decoding: answer.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw WaitTimeout(description: "not an HTTP status line: '\(statusLine)'")
        }
        return status
    }
}
