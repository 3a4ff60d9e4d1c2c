import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOFoundationCompat
import ScannerBridgeCore
import ServiceLifecycle
import SonarQubeEmulatorCore
import Synchronization

// bench-scans: scans per minute through ScannerBridgeCore against the emulators — Trivy (run the
// binary, read its report) and SonarQube (run the scanner, receive the signed webhook, fetch the
// measures) — on a generated worktree.
//
//   bench-scans [--scans N] [--concurrency C] [--files F] [--bin DIR]

var scans = 40
var concurrency = 2
var fileCount = 200
var binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--scans": scans = Int(arguments.next() ?? "") ?? scans
    case "--concurrency": concurrency = Int(arguments.next() ?? "") ?? concurrency
    case "--files": fileCount = Int(arguments.next() ?? "") ?? fileCount
    case "--bin": binDirectory = arguments.next() ?? binDirectory
    default:
        FileHandle.standardError.write(Data("usage: bench-scans [--scans N] [--concurrency C] [--files F] [--bin DIR]\n".utf8))
        exit(2)
    }
}

// A worktree like a small service: sources, a lock file with old packages, a Dockerfile, one secret.
let worktree = FileManager.default.temporaryDirectory.appendingPathComponent("bench-scans-\(UUID().uuidString)").path
defer { try? FileManager.default.removeItem(atPath: worktree) }
try FileManager.default.createDirectory(atPath: worktree + "/src", withIntermediateDirectories: true)
for index in 0..<fileCount {
    var source = "// Module \(index).\nimport Foundation\n\n"
    for function in 0..<8 {
        source += "func f\(index)_\(function)(_ value: Int) -> Int {\n    if value > \(function) {\n        return value * \(index + 1)\n    }\n    return value\n}\n\n"
    }
    try source.write(toFile: "\(worktree)/src/Module\(index).swift", atomically: true, encoding: .utf8)
}
try #"{"lockfileVersion": 3, "packages": {"": {}, "node_modules/lodash": {"version": "4.17.4"}, "node_modules/axios": {"version": "0.19.0"}}}"#
    .write(toFile: worktree + "/package-lock.json", atomically: true, encoding: .utf8)
try "requests==2.25.0\npyyaml==5.3\n".write(toFile: worktree + "/requirements.txt", atomically: true, encoding: .utf8)
try "FROM python:latest\nADD . /app\nCMD [\"python\", \"app.py\"]\n".write(toFile: worktree + "/Dockerfile", atomically: true, encoding: .utf8)
try "AWS_ACCESS_KEY_ID=AKIA2E0A8F3B244C9986\n".write(toFile: worktree + "/.env", atomically: true, encoding: .utf8)

/// Runs `count` operations, `width` at a time; returns seconds taken and failures.
func measure(_ count: Int, width: Int, _ operation: @escaping @Sendable (Int) async throws -> Void) async -> (seconds: Double, failures: Int) {
    let started = ContinuousClock.now
    var failures = 0
    await withTaskGroup(of: Bool.self) { group in
        var next = 0
        func add() {
            let index = next
            next += 1
            group.addTask {
                do {
                    try await operation(index)
                    return true
                } catch {
                    FileHandle.standardError.write(Data("scan \(index) failed: \(error)\n".utf8))
                    return false
                }
            }
        }
        for _ in 0..<min(width, count) { add() }
        while let succeeded = await group.next() {
            if !succeeded { failures += 1 }
            if next < count { add() }
        }
    }
    let elapsed = (ContinuousClock.now - started).components
    return (Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18, failures)
}

print("worktree: \(fileCount) source files, \(scans) scans per tool, \(concurrency) at a time")

let trivy = TrivyScanner(configuration: TrivyConfiguration(executable: binDirectory + "/trivy-emulator", timeout: .seconds(120)))
let trivyRun = await measure(scans, width: concurrency) { _ in
    _ = try await trivy.scan(worktree: worktree)
}
print(String(format: "trivy:     %d scans in %.1f s = %.1f scans/min (%d failed)", scans, trivyRun.seconds, Double(scans) / trivyRun.seconds * 60, trivyRun.failures))

// SonarQube: the emulator and a webhook receiver in this process, on two ports drawn below the ephemeral range.
var logger = Logger(label: "bench-scans")
logger.logLevel = .critical
let secret = "bench-\(UUID().uuidString)"
let sonarPort = 19_400 + Int.random(in: 0..<500)
let receiverPort = sonarPort + 500
let baseURL = "http://127.0.0.1:\(sonarPort)"
let emulator = SonarQubeEmulator(
    configuration: .init(serverURL: baseURL, token: "bench", webhookURL: "http://127.0.0.1:\(receiverPort)/webhooks/sonarqube", webhookSecret: secret), logger: logger)
let arrived = Mutex<Set<String>>([])
let webhook = SonarWebhook(secret: secret)
let receiver = Router()
receiver.post("/webhooks/sonarqube") { request, _ -> Response in
    let body = try await request.body.collect(upTo: 1 << 20)
    do throws(SonarWebhookRefusal) {
        let payload = try webhook.receive(body: Data(buffer: body), signature: request.headers[HTTPField.Name(SonarWebhook.signatureHeader)!])
        _ = arrived.withLock { $0.insert(payload.taskId) }
        return Response(status: .ok)
    } catch {
        return Response(status: .unauthorized)
    }
}
let group = ServiceGroup(configuration: .init(services: [
    Application(router: emulator.router(), configuration: .init(address: .hostname("127.0.0.1", port: sonarPort)), logger: logger),
    Application(router: receiver, configuration: .init(address: .hostname("127.0.0.1", port: receiverPort)), logger: logger),
    emulator,
], gracefulShutdownSignals: [], logger: logger))
try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { try await group.run() }
    for _ in 0..<100 {
        if (try? await HTTPClient.shared.execute(HTTPClientRequest(url: baseURL + "/_emulator/deliveries"), timeout: .seconds(1)))?.status == .ok { break }
        try await Task.sleep(for: .milliseconds(100))
    }
    let configuration = SonarQubeConfiguration(scannerExecutable: binDirectory + "/sonar-scanner-emulator", hostURL: baseURL, token: "bench", webhookSecret: secret)
    let client = SonarQubeClient(httpClient: .shared, baseURL: baseURL, token: "bench")
    let sonarRun = await measure(scans, width: concurrency) { index in
        let key = SonarProjectKey.make(version: "bench", repository: "bench/service", commit: String(format: "%040x", index))
        let submission = try await SonarScanner(configuration: configuration).submit(worktree: worktree, projectKey: key)
        while !arrived.withLock({ $0.contains(submission.ceTaskID) }) { try await Task.sleep(for: .milliseconds(10)) }
        let metrics = try await client.metrics(component: key)
        guard metrics["sonar_ncloc"] != nil else { throw ScanFailure(kind: .badReport, reason: "no ncloc for \(key)") }
    }
    print(String(format: "sonarqube: %d scans in %.1f s = %.1f scans/min (%d failed; scanner run, signed webhook, measures fetched)", scans, sonarRun.seconds, Double(scans) / sonarRun.seconds * 60, sonarRun.failures))
    await group.triggerGracefulShutdown()
    tasks.cancelAll()
}
