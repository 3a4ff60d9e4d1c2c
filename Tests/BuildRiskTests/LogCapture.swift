import BuildRiskContracts
import Foundation
import Logging
import Testing
import Synchronization

/// Keeps every line written through its loggers, at every level, as a stream handler would
/// print it (message, error, metadata), so a test can search what the services' logs hold.
final class LogCapture: Sendable {
    private let captured = Mutex<[String]>([])

    var lines: [String] { captured.withLock { $0 } }

    /// A logger whose lines this capture keeps (from trace up: what an operator could turn on).
    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { label in Handler(label: label, capture: self) }
        logger.logLevel = .trace
        return logger
    }

    fileprivate func append(_ line: String) { captured.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let label: String
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
            if let own = event.metadata { all.merge(own) { $1 } }
            let error = event.error.map { " error=\(String(reflecting: $0))" } ?? ""
            let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append("\(event.level) \(label) [\(event.source)] \(event.message)\(error) \(fields)")
        }
    }
}

extension LogCapture {
    /// Expects that each of `services` logged (so the capture held it) and that no captured line
    /// holds a secret: a GitHub token of the tests (bare, and as a clone's Basic header), the
    /// secret behind service tokens, every service token and database password derived from it,
    /// the admin token, and `extra` (users' API tokens, a webhook secret).
    func expectNoSecrets(from services: [ServiceName], extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = self.lines
        for service in services {
            #expect(lines.contains { $0.contains("starting") && $0.contains("service=\(service.rawValue)") },
                    "the capture holds \(service.rawValue)'s log", sourceLocation: sourceLocation)
        }
        let secrets = TestEnvironment.githubTokens
            + TestEnvironment.githubTokens.map { Data("x-access-token:\($0)".utf8).base64EncodedString() }
            + [TestEnvironment.secret, TestEnvironment.adminToken] + extra
            + ServiceName.allCases.flatMap { [TestEnvironment.tokens.token(for: $0), TestEnvironment.tokens.databasePassword(for: $0.schema)] }
        for secret in secrets where !secret.isEmpty {
            let leaks = lines.filter { $0.contains(secret) }
            #expect(leaks.isEmpty, "\(leaks.count) log lines hold a secret, e.g. \(leaks.prefix(2))", sourceLocation: sourceLocation)
        }
    }
}
