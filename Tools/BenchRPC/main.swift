import NIOPosix
import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import BuildRiskRuntime
import Foundation
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle

// scripts/bench-rpc: JSON-RPC calls per second and latency over the real transport (TLS with
// the internal CA, the production /rpc route and dispatcher), HTTP/2 against HTTP/1.1, at 1, 16
// and 64 calls in flight. Usage: bench-rpc [--seconds N] [--port P] [--connections N] [--separate-process]
// [--transport "HTTP/2"|"HTTP/2 (AHC)"|"HTTP/1.1"|none] [--in-flight N]

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
var transports = ["HTTP/2", "HTTP/2 (AHC)", "HTTP/1.1"]
var inFlightRows = [1, 16, 64]
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--seconds": seconds = Double(arguments.next() ?? "") ?? seconds
    case "--port": port = Int(arguments.next() ?? "") ?? port
    case "--connections": connections = max(1, Int(arguments.next() ?? "") ?? connections)
    case "--separate-process": separateProcess = true
    case "--transport": transports = [arguments.next() ?? "HTTP/2"]
    case "--in-flight": inFlightRows = [Int(arguments.next() ?? "") ?? 16]
    case "--serve": serveDirectory = arguments.next()
    default:
        FileHandle.standardError.write(Data(#"usage: bench-rpc [--seconds N] [--port P] [--connections N] [--separate-process] [--transport "HTTP/2"|"HTTP/2 (AHC)"|"HTTP/1.1"|none] [--in-flight N]"#.utf8 + [10]))
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
// `/raw` is the same transport without the RPC layer: what HTTP/2 + TLS + the server cost alone.
let cannedAnswer = ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"result":{"number":4711,"text":"how risky is build 4711 of buildrisk/buildrisk"}}"#)
let server = InternalHTTPServer(
    host: "127.0.0.1", port: port, tlsConfiguration: try tls.serverConfiguration(for: "bench"), maxBodyBytes: 4 * 1024 * 1024,
    logger: logger
) { request in
    if request.head.path == "/raw" {
        return InternalResponse(head: HTTPResponse(status: .ok, headerFields: [.contentType: "application/json"]), body: cannedAnswer)
    }
    return await route.respond(to: request, logger: logger)
}

struct Figures {
    var calls: Int
    var elapsed: Double
    var p50: Double
    var p99: Double
    var protocolSeen: String
    /// CPU time (user + system, this process) per call in microseconds: what a call costs,
    /// which unlike calls/s hardly moves when something else runs on the machine.
    var cpuMicroseconds: Double
}

/// User + system CPU seconds this process has used.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Runs `inFlight` loops of `call` (given the loop's index) until `seconds` pass; returns
/// throughput, latency and CPU per call.
func runLoops(
    inFlight: Int, seconds: Double, protocolSeen: String, _ call: @escaping @Sendable (Int) async throws -> Void
) async throws -> Figures {
    let start = ContinuousClock.now
    let cpuStart = cpuSeconds()
    let end = start + .milliseconds(Int64(seconds * 1000))
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for index in 0..<inFlight {
            group.addTask {
                var samples: [Double] = []
                while ContinuousClock.now < end {
                    let begin = ContinuousClock.now
                    try await call(index)
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
    let total = (ContinuousClock.now - start).inSeconds
    let cpu = (cpuSeconds() - cpuStart) / Double(max(latencies.count, 1)) * 1e6
    func percentile(_ p: Double) -> Double {
        latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
    }
    return Figures(
        calls: latencies.count, elapsed: total, p50: percentile(0.50), p99: percentile(0.99), protocolSeen: protocolSeen,
        cpuMicroseconds: cpu)
}

/// Calls over the transport until the time is up. With `raw`, posts a fixed body to `/raw` (no
/// dispatcher, no JSON) to isolate the transport.
func measure(clients: [RPCClient], inFlight: Int, seconds: Double, raw: Bool = false) async throws -> Figures {
    let params = EchoParams(text: "how risky is build 4711 of buildrisk/buildrisk", number: 4711)
    let exchange = try await clients[0].send(body: Data(#"{"jsonrpc":"2.0","id":1,"method":"bench.echo","params":{"text":"x","number":1}}"#.utf8))
    // Warm up the connections.
    for _ in 0..<200 { _ = try await clients[0].call(benchEcho, params) }
    let rawBody = ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"method":"bench.echo","params":{"text":"how risky is build 4711 of buildrisk/buildrisk","number":4711}}"#)
    return try await runLoops(inFlight: inFlight, seconds: seconds, protocolSeen: exchange.httpVersion) { index in
        let client = clients[index % clients.count]
        guard raw else {
            let answer = try await client.call(benchEcho, params)
            precondition(answer.number == params.number)
            return
        }
        switch client.transport {
        case .http2(let http2):
            let head = HTTPRequest(method: .post, scheme: "https", authority: "\(client.host):\(client.port)", path: "/raw", headerFields: [.contentType: "application/json"])
            _ = try await http2.execute(host: client.host, port: client.port, head: head, body: rawBody, timeout: .seconds(30))
        case .httpClient(let httpClient):
            var request = HTTPClientRequest(url: client.baseURL + "/raw")
            request.method = .POST
            request.body = .bytes(rawBody)
            let response = try await httpClient.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
        }
    }
}

/// The RPC layer without a transport: encode the call as a client does, answer it through the
/// dispatcher (with a deadline the server watches, as over the wire), decode the answer.
func measureLayer(inFlight: Int, seconds: Double) async throws -> Figures {
    struct Call: Encodable { let jsonrpc = "2.0"; var id = 1; var method = "bench.echo"; var params: EchoParams }
    struct Answer: Decodable { var result: EchoParams? }
    let params = EchoParams(text: "how risky is build 4711 of buildrisk/buildrisk", number: 4711)
    let (dispatcher, logger) = await (dispatcher, logger)
    return try await runLoops(inFlight: inFlight, seconds: seconds, protocolSeen: "none") { _ in
        let body = try JSONEncoder().encode(Call(params: params))
        let context = RPCCallContext(caller: "gateway", logger: logger, deadline: .now + .seconds(30), deadlineWatched: true)
        let answer = try JSONDecoder().decode(Answer.self, from: await dispatcher.respond(to: body, context: context) ?? Data())
        precondition(answer.result?.number == params.number)
    }
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
    // The clients get event loops of their own, as they would in their own process: sharing the
    // server's two, a connection's client and server ends could land on one thread, which then
    // carried every byte of both (in-process HTTP/2 at 16 in flight swung between ≈ 4,200 and
    // ≈ 5,900 calls/s from run to run with shared loops, 5,540–5,820 with separate ones).
    let clientLoops = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
    print("bench-rpc: \(seconds)s per row, 80-byte JSON-RPC call, TLS on 127.0.0.1:\(port), \(separateProcess ? "server in its own process" : "client and server in one process, each on its own event loops"), \(connections) client connection(s)")
    print("transport     in-flight     calls/s    p50 ms    p99 ms  CPU µs/call   protocol")
    // HTTP/2: the transport services use (HTTP2Client); HTTP/2 (AHC): async-http-client over
    // HTTP/2, for comparison; HTTP/1.1: async-http-client with pooled connections.
    for name in transports where name != "none" {
        var httpClients: [HTTPClient] = []
        var http2Clients: [HTTP2Client] = []
        let clients: [RPCClient] = try (0..<connections).map { _ in
            let transport: RPCTransport
            switch name {
            case "HTTP/2":
                let client = try HTTP2Client(tls: clientTLS, group: clientLoops)
                http2Clients.append(client)
                transport = .http2(client)
            default:
                let client = ServiceDirectory.makeHTTPClient(tls: clientTLS, httpVersion: name == "HTTP/1.1" ? .http1Only : .automatic, group: clientLoops)
                httpClients.append(client)
                transport = .httpClient(client)
            }
            return RPCClient(transport: transport, baseURL: "https://127.0.0.1:\(port)", token: tokens.token(for: .gateway))
        }
        for inFlight in inFlightRows {
            let figures = try await measure(clients: clients, inFlight: inFlight, seconds: seconds)
            print(String(format: "%-13@ %7d %11.0f %9.2f %9.2f %10.0f   %@", name as NSString, inFlight,
                         Double(figures.calls) / figures.elapsed, figures.p50, figures.p99, figures.cpuMicroseconds, figures.protocolSeen as NSString))
        }
        let bare = try await measure(clients: clients, inFlight: 16, seconds: seconds, raw: true)
        print(String(format: "%-13@ %7d %11.0f %9.2f %9.2f %10.0f   %@ (transport only: fixed answer, no RPC layer)", name as NSString, 16,
                     Double(bare.calls) / bare.elapsed, bare.p50, bare.p99, bare.cpuMicroseconds, bare.protocolSeen as NSString))
        for httpClient in httpClients { try await httpClient.shutdown() }
        for http2Client in http2Clients { await http2Client.shutdown() }
    }
    try await clientLoops.shutdownGracefully()
    let layer = try await measureLayer(inFlight: 16, seconds: seconds)
    print(String(format: "%-13@ %7d %11.0f %9.2f %9.2f %10.0f   (the RPC layer alone: client encoding, dispatcher, client decoding; no transport)", "none" as NSString, 16,
                 Double(layer.calls) / layer.elapsed, layer.p50, layer.p99, layer.cpuMicroseconds))
    if let child {
        child.terminate()
        child.waitUntilExit()
    } else {
        await serviceGroup.triggerGracefulShutdown()
    }
    try await group.waitForAll()
}
