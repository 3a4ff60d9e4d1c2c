import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SonarQubeEmulatorCore

// sonarqube-emulator: an offline SonarQube for BuildRisk's demo and tests. Accepts submissions from
// sonar-scanner-emulator, serves api/ce/task and api/measures/component, and calls the webhook with a
// signed body once each analysis is done.
//
//   sonarqube-emulator [--port 9000] [--token T] [--webhook-url URL] [--webhook-secret S]
//
// Prints "READY <base URL>" once serving. POST /_emulator/faults {"failAnalyses": true} /
// {"badSignature": true} / {"omitSignature": true} / {"processingMilliseconds": N} changes its behaviour.

var port = 9000
var token: String?
var webhookURL: String?
var webhookSecret: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--port": port = Int(arguments.next() ?? "") ?? port
    case "--token": token = arguments.next()
    case "--webhook-url": webhookURL = arguments.next()
    case "--webhook-secret": webhookSecret = arguments.next()
    default:
        FileHandle.standardError.write(Data("usage: sonarqube-emulator [--port P] [--token T] [--webhook-url URL] [--webhook-secret S]\n".utf8))
        exit(2)
    }
}
let baseURL = "http://127.0.0.1:\(port)"
var logger = Logger(label: "sonarqube-emulator")
logger.logLevel = .warning
let emulator = SonarQubeEmulator(
    configuration: .init(serverURL: baseURL, token: token, webhookURL: webhookURL, webhookSecret: webhookSecret), logger: logger)
let app = Application(
    router: emulator.router(),
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "sonarqube-emulator"),
    onServerRunning: { _ in FileHandle.standardOutput.write(Data("READY \(baseURL)\n".utf8)) },
    logger: logger)
let group = ServiceGroup(configuration: .init(services: [app, emulator], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
