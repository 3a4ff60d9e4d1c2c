import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import Hummingbird
import HummingbirdHTTP2
import Logging
import NIOCore
import ServiceLifecycle

// scripts/bench-rpc: JSON-RPC calls per second and latency over the real transport (TLS with
// the internal CA, the production /rpc route and dispatcher), HTTP/2 against HTTP/1.1, at 1, 16
// and 64 calls in flight. Usage: bench-rpc [--seconds N] [--port P] [--connections N] [--separate-process]

struct EchoParams: Codable, Sendable {
    var text: String
    var number: Int
}

let benchEcho = RPCMethod<EchoParams, EchoParams>("bench.echo", summary: "Answers its params (benchmark only).")

var seconds = 3.0
var port = 0
var connections = 1
var serveDirectory: String?
var separateProcess = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--seconds": seconds = Double(arguments.next() ?? "") ?? seconds
    case "--port": port = Int(arguments.next() ?? "") ?? port
    case "--connections": connections = max(1, Int(arguments.next() ?? "") ?? connections)
    case "--separate-process": separateProcess = true
    case "--serve": serveDirectory = arguments.next()
    default:
        FileHandle.standardError.write(Data("usage: bench-rpc [--seconds N] [--port P] [--connections N] [--separate-process]\n".utf8))
        exit(2)
    }
}
if port == 0 {
    // Ask the kernel for a free port.
    let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
    port = Int(UInt16(bigEndian: address.sin_port))
    close(probe)
}

var logger = Logger(label: "bench-rpc")
logger.logLevel = .warning
let directory = serveDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("bench-rpc-\(getpid())").path
defer { if serveDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
let tls = TLSMaterial(directory: directory)
try tls.ensure(names: ["bench"])
// Server and client share the secret through the TLS directory (the --serve child reads it).
let secretPath = directory + "/bench-secret"
if serveDirectory == nil {
    try "bench-secret-\(UUID().uuidString)".write(toFile: secretPath, atomically: true, encoding: .utf8)
}
let secret = try String(contentsOfFile: secretPath, encoding: .utf8)
let tokens = ServiceTokens(secret: secret)

var dispatcher = RPCDispatcher()
dispatcher.register(benchEcho) { params, _ in params }
let route = RPCRoute(dispatcher: dispatcher, tokens: tokens, maxBodyBytes: 4 * 1024 * 1024)
let router = Router()
router.post("/rpc") { request, context in await route.respond(to: request, logger: context.logger) }
// The same transport without the RPC layer: what HTTP/2 + TLS + Hummingbird cost alone.
let cannedAnswer = ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"result":{"number":4711,"text":"how risky is build 4711 of buildrisk/buildrisk"}}"#)
router.post("/raw") { request, _ in
    _ = try await request.body.collect(upTo: 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: cannedAnswer))
}
let server = Application(
    router: router, server: try .http2Upgrade(tlsConfiguration: try tls.serverConfiguration(for: "bench")),
    configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port)), logger: logger)

struct Figures {
    var calls: Int
    var elapsed: Double
    var p50: Double
    var p99: Double
    var protocolSeen: String
}

/// Runs `inFlight` loops that call until the time is up; returns throughput and latency.
/// With `raw`, posts a fixed body to `/raw` (no dispatcher, no JSON) to isolate the transport.
func measure(clients: [RPCClient], inFlight: Int, seconds: Double, raw: Bool = false) async throws -> Figures {
    let client = clients[0]
    let params = EchoParams(text: "how risky is build 4711 of buildrisk/buildrisk", number: 4711)
    let exchange = try await client.send(body: Data(#"{"jsonrpc":"2.0","id":1,"method":"bench.echo","params":{"text":"x","number":1}}"#.utf8))
    // Warm up the connections.
    for _ in 0..<200 { _ = try await client.call(benchEcho, params) }
    let start = ContinuousClock.now
    let end = start + .milliseconds(Int64(seconds * 1000))
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for index in 0..<inFlight {
            let client = clients[index % clients.count]
            group.addTask {
                var samples: [Double] = []
                while ContinuousClock.now < end {
                    let begin = ContinuousClock.now
                    if raw {
                        var request = HTTPClientRequest(url: client.baseURL + "/raw")
                        request.method = .POST
                        request.body = .bytes(ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"method":"bench.echo","params":{"text":"how risky is build 4711 of buildrisk/buildrisk","number":4711}}"#))
                        let response = try await client.httpClient.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                    } else {
                        let answer = try await client.call(benchEcho, params)
                        precondition(answer.number == params.number)
                    }
                    let elapsed = ContinuousClock.now - begin
                    samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
                }
                return samples
            }
        }
        var all: [Double] = []
        for try await samples in group { all += samples }
        return all.sorted()
    }
    let elapsed = ContinuousClock.now - start
    let total = elapsed.inSeconds
    func percentile(_ p: Double) -> Double {
        latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
    }
    return Figures(calls: latencies.count, elapsed: total, p50: percentile(0.50), p99: percentile(0.99), protocolSeen: exchange.httpVersion)
}

if serveDirectory != nil {
    // Child mode: serve until SIGTERM.
    try await ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger)).run()
    exit(0)
}
var child: Process?
if separateProcess {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    process.arguments = ["--serve", directory, "--port", String(port)]
    try process.run()
    child = process
}
let inProcess = !separateProcess
let serviceGroup = ServiceGroup(configuration: .init(services: inProcess ? [server] : [], logger: logger))
try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { if inProcess { try await serviceGroup.run() } }
    try await Task.sleep(for: .milliseconds(separateProcess ? 1500 : 500))
    let clientTLS = try tls.clientConfiguration()
    print("bench-rpc: \(seconds)s per row, 80-byte JSON-RPC call, TLS on 127.0.0.1:\(port), \(separateProcess ? "server in its own process" : "client and server in one process"), \(connections) client connection(s)")
    print("transport   in-flight     calls/s    p50 ms    p99 ms   protocol")
    for (name, version) in [("HTTP/2", HTTPClient.Configuration.HTTPVersion.automatic), ("HTTP/1.1", .http1Only)] {
        let httpClients = (0..<connections).map { _ in ServiceDirectory.makeHTTPClient(tls: clientTLS, httpVersion: version) }
        let client = httpClients.map { RPCClient(httpClient: $0, baseURL: "https://127.0.0.1:\(port)", token: tokens.token(for: .gateway)) }
        for inFlight in [1, 16, 64] {
            let figures = try await measure(clients: client, inFlight: inFlight, seconds: seconds)
            print(String(format: "%-10@ %10d %11.0f %9.2f %9.2f   %@", name as NSString, inFlight,
                         Double(figures.calls) / figures.elapsed, figures.p50, figures.p99, figures.protocolSeen as NSString))
        }
        let bare = try await measure(clients: client, inFlight: 16, seconds: seconds, raw: true)
        print(String(format: "%-10@ %10d %11.0f %9.2f %9.2f   %@ (transport only: fixed answer, no RPC layer)", name as NSString, 16,
                     Double(bare.calls) / bare.elapsed, bare.p50, bare.p99, bare.protocolSeen as NSString))
        for httpClient in httpClients { try await httpClient.shutdown() }
    }
    if let child {
        child.terminate()
        child.waitUntilExit()
    } else {
        await serviceGroup.triggerGracefulShutdown()
    }
    try await group.waitForAll()
}
