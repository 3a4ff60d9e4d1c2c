import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import Synchronization

/// Faults and behaviours the emulator can be told to show (`POST /_emulator/faults`; keys left out take their defaults).
public struct SonarEmulatorFaults: Codable, Sendable {
    /// Analyses end `FAILED` with `failureMessage` instead of `SUCCESS`.
    public var failAnalyses = false
    public var failureMessage = "Unsupported language: the analysis report could not be processed"
    /// Webhooks are signed with the wrong key.
    public var badSignature = false
    /// Webhooks carry no signature header (as SonarQube does when the webhook has no secret).
    public var omitSignature = false
    /// How long the Compute Engine works on a report before finishing it.
    public var processingMilliseconds = 0

    public init() {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SonarEmulatorFaults()
        failAnalyses = try container.decodeIfPresent(Bool.self, forKey: .failAnalyses) ?? defaults.failAnalyses
        failureMessage = try container.decodeIfPresent(String.self, forKey: .failureMessage) ?? defaults.failureMessage
        badSignature = try container.decodeIfPresent(Bool.self, forKey: .badSignature) ?? defaults.badSignature
        omitSignature = try container.decodeIfPresent(Bool.self, forKey: .omitSignature) ?? defaults.omitSignature
        processingMilliseconds = try container.decodeIfPresent(Int.self, forKey: .processingMilliseconds) ?? defaults.processingMilliseconds
    }
}

/// One webhook call the emulator made, with the receiver's answer.
public struct SonarWebhookDelivery: Codable, Sendable {
    public var taskId: String
    public var projectKey: String
    public var analysisStatus: String
    public var responseStatus: Int?
    public var error: String?
}

/// SonarQube as the bridge meets it: accepts scanner submissions (`POST api/ce/submit`), runs them
/// through a Compute Engine queue, serves `api/ce/task` and `api/measures/component` in SonarQube's
/// documented JSON shapes, and calls the configured webhook with the documented payload, signed as
/// SonarQube signs it (`X-Sonar-Webhook-HMAC-SHA256`: hex HMAC-SHA256 of the body with the secret).
/// Run it as a `Service` beside its HTTP server: `run()` is the Compute Engine.
public final class SonarQubeEmulator: Service, Sendable {
    public struct Configuration: Sendable {
        /// The URL the emulator is reached at (the webhook's `serverUrl`).
        public var serverURL: String
        /// The token clients must present; `nil` lets anonymous requests through.
        public var token: String?
        public var webhookURL: String?
        public var webhookSecret: String?

        public init(serverURL: String, token: String? = nil, webhookURL: String? = nil, webhookSecret: String? = nil) {
            self.serverURL = serverURL
            self.token = token
            self.webhookURL = webhookURL
            self.webhookSecret = webhookSecret
        }
    }

    struct Task: Sendable {
        var id: String
        var report: SonarAnalysisReport
        var status = "PENDING"
        var submittedAt: Date
        var startedAt: Date?
        var executedAt: Date?
        var analysisId: String?
        var errorMessage: String?
    }

    struct State: Sendable {
        var tasks: [String: Task] = [:]
        /// Component key → name and measures of its last successful analysis.
        var components: [String: (name: String, measures: [String: Double])] = [:]
        var faults = SonarEmulatorFaults()
        var deliveries: [SonarWebhookDelivery] = []
    }

    public let configuration: Configuration
    let state = Mutex(State())
    let queue: AsyncStream<String>
    let enqueue: AsyncStream<String>.Continuation
    let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "sonarqube-emulator")) {
        self.configuration = configuration
        self.logger = logger
        (queue, enqueue) = AsyncStream.makeStream(of: String.self)
    }

    public var faults: SonarEmulatorFaults {
        get { state.withLock { $0.faults } }
        set { state.withLock { $0.faults = newValue } }
    }

    public var deliveries: [SonarWebhookDelivery] { state.withLock { $0.deliveries } }

    /// The Compute Engine: finishes each submitted report and calls the webhook, until shutdown.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await id in queue.cancelOnGracefulShutdown() {
                group.addTask { await self.process(id) }
            }
        }
    }

    func process(_ id: String) async {
        let delay = state.withLock { state -> Int in
            state.tasks[id]?.status = "IN_PROGRESS"
            state.tasks[id]?.startedAt = Date()
            return state.faults.processingMilliseconds
        }
        if delay > 0 { try? await Swift.Task.sleep(for: .milliseconds(delay)) }
        let (task, faults) = state.withLock { state -> (Task?, SonarEmulatorFaults) in
            guard var task = state.tasks[id] else { return (nil, state.faults) }
            task.executedAt = Date()
            if state.faults.failAnalyses {
                task.status = "FAILED"
                task.errorMessage = state.faults.failureMessage
            } else {
                task.status = "SUCCESS"
                task.analysisId = SonarQubeEmulator.identifier()
                state.components[task.report.projectKey] = (task.report.projectName, task.report.measures)
            }
            state.tasks[id] = task
            return (task, state.faults)
        }
        guard let task, let url = configuration.webhookURL else { return }
        let body = SonarQubeEmulator.encode(webhookPayload(task))
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-SonarQube-Project", value: task.report.projectKey)
        if !faults.omitSignature, let secret = configuration.webhookSecret {
            let key = SymmetricKey(data: Data((faults.badSignature ? "not-" + secret : secret).utf8))
            let signature = HMAC<SHA256>.authenticationCode(for: body, using: key).map { String(format: "%02x", $0) }.joined()
            request.headers.add(name: "X-Sonar-Webhook-HMAC-SHA256", value: signature)
        }
        request.body = .bytes(ByteBuffer(data: body))
        var delivery = SonarWebhookDelivery(taskId: task.id, projectKey: task.report.projectKey, analysisStatus: task.status)
        do {
            // SonarQube gives a webhook 10 seconds to answer.
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            delivery.responseStatus = Int(response.status.code)
            _ = try? await response.body.collect(upTo: 1 << 20)
        } catch {
            delivery.error = "\(error)"
            logger.warning("webhook delivery failed", metadata: ["task": "\(task.id)", "error": "\(error)"])
        }
        state.withLock { $0.deliveries.append(delivery) }
    }

    /// The webhook body as SonarQube's documentation shows it.
    func webhookPayload(_ task: Task) -> [String: Any] {
        var payload: [String: Any] = [
            "serverUrl": configuration.serverURL,
            "taskId": task.id,
            "status": task.status,
            "analysedAt": SonarQubeEmulator.timestamp(task.executedAt ?? Date()),
            "changedAt": SonarQubeEmulator.timestamp(task.executedAt ?? Date()),
            "project": [
                "key": task.report.projectKey, "name": task.report.projectName,
                "url": "\(configuration.serverURL)/dashboard?id=\(task.report.projectKey)",
            ],
            "properties": task.report.properties,
        ]
        if let revision = task.report.properties["sonar.analysis.revision"] { payload["revision"] = revision }
        if task.status == "SUCCESS" {
            let measures = task.report.measures
            // The gate: SonarQube's way on overall code, A ratings and at most 3 % duplication.
            let conditions: [(String, String, Double)] = [
                ("reliability_rating", "GREATER_THAN", 1), ("security_rating", "GREATER_THAN", 1), ("duplicated_lines_density", "GREATER_THAN", 3),
            ]
            let evaluated = conditions.map { metric, comparison, threshold -> [String: Any] in
                let value = measures[metric] ?? 0
                return [
                    "metric": metric, "operator": comparison, "value": SonarSourceAnalysis.format(metric, value),
                    "status": value > threshold ? "ERROR" : "OK", "errorThreshold": SonarSourceAnalysis.format(metric, threshold),
                    "onLeakPeriod": false,
                ]
            }
            payload["qualityGate"] = [
                "name": "Sonar way", "status": evaluated.contains { $0["status"] as? String == "ERROR" } ? "ERROR" : "OK",
                "conditions": evaluated,
            ]
        }
        return payload
    }

    /// The routes: SonarQube's Web API and the emulator's controls.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let api = router.group("api").add(middleware: TokenCheck(token: configuration.token))
        api.get("server/version") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "10.7.0.96327"))) }
        api.post("ce/submit") { request, context in
            let query = request.uri.queryParameters
            guard let key = query.get("projectKey"), !key.isEmpty else { return Self.error("The 'projectKey' parameter is missing", .badRequest) }
            let report: SonarAnalysisReport
            do {
                report = try await request.decode(as: SonarAnalysisReport.self, context: context)
            } catch {
                return Self.error("The analysis report could not be read: \(error)", .badRequest)
            }
            let id = SonarQubeEmulator.identifier()
            var stored = report
            stored.projectKey = key
            if let name = query.get("projectName"), !name.isEmpty { stored.projectName = name }
            self.state.withLock { $0.tasks[id] = Task(id: id, report: stored, submittedAt: Date()) }
            self.enqueue.yield(id)
            return Self.json(["taskId": id])
        }
        api.get("ce/task") { request, _ in
            guard let id = request.uri.queryParameters.get("id") else { return Self.error("The 'id' parameter is missing", .badRequest) }
            guard let task = self.state.withLock({ $0.tasks[id] }) else { return Self.error("No activity found for task '\(id)'", .notFound) }
            var body: [String: Any] = [
                "id": task.id, "type": "REPORT", "componentKey": task.report.projectKey, "componentName": task.report.projectName,
                "componentQualifier": "TRK", "status": task.status, "submittedAt": SonarQubeEmulator.timestamp(task.submittedAt),
                "hasScannerContext": true, "warningCount": 0, "warnings": [String](),
            ]
            if let started = task.startedAt { body["startedAt"] = SonarQubeEmulator.timestamp(started) }
            if let executed = task.executedAt {
                body["executedAt"] = SonarQubeEmulator.timestamp(executed)
                body["executionTimeMs"] = Int(executed.timeIntervalSince(task.startedAt ?? executed) * 1000)
            }
            if let analysisId = task.analysisId { body["analysisId"] = analysisId }
            if let message = task.errorMessage { body["errorMessage"] = message }
            return Self.json(["task": body])
        }
        api.get("measures/component") { request, _ in
            let query = request.uri.queryParameters
            guard let key = query.get("component") else { return Self.error("The 'component' parameter is missing", .badRequest) }
            guard let keys = query.get("metricKeys")?.split(separator: ",").map(String.init), !keys.isEmpty else {
                return Self.error("The 'metricKeys' parameter is missing", .badRequest)
            }
            guard let component = self.state.withLock({ $0.components[key] }) else { return Self.error("Component key '\(key)' not found", .notFound) }
            let unknown = keys.filter { component.measures[$0] == nil && $0 != "alert_status" }
            guard unknown.isEmpty else { return Self.error("The following metric keys are not found: \(unknown.joined(separator: ", "))", .notFound) }
            let measures = keys.map { metric -> [String: Any] in
                if metric == "alert_status" {
                    let failing = (component.measures["reliability_rating"] ?? 1) > 1 || (component.measures["security_rating"] ?? 1) > 1
                        || (component.measures["duplicated_lines_density"] ?? 0) > 3
                    return ["metric": metric, "value": failing ? "ERROR" : "OK"]
                }
                return ["metric": metric, "value": SonarSourceAnalysis.format(metric, component.measures[metric] ?? 0)]
            }
            return Self.json(["component": ["key": key, "name": component.name, "qualifier": "TRK", "measures": measures] as [String: Any]])
        }
        router.post("_emulator/faults") { request, context in
            let faults = try await request.decode(as: SonarEmulatorFaults.self, context: context)
            self.faults = faults
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: SonarQubeEmulator.encode(faults))))
        }
        router.get("_emulator/deliveries") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: SonarQubeEmulator.encode(self.deliveries))))
        }
        return router
    }

    static func encode(_ value: some Encodable) -> Data { (try? JSONEncoder().encode(value)) ?? Data("null".utf8) }

    static func encode(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: encode(object))))
    }

    /// SonarQube's error body.
    static func error(_ message: String, _ status: HTTPResponse.Status) -> Response {
        json(["errors": [["msg": message]]], status: status)
    }

    /// SonarQube's timestamps: `2016-11-18T10:46:28+0100`.
    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        return formatter.string(from: date)
    }

    /// Identifiers in SonarQube's style (20 URL-safe characters).
    static func identifier() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return "A" + String((0..<19).map { _ in alphabet.randomElement()! })
    }
}

/// SonarQube's Web API accepts a token as a bearer token or as the user name of basic authentication.
struct TokenCheck: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        var presented: String?
        if header.hasPrefix("Bearer ") {
            presented = String(header.dropFirst(7))
        } else if header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))), let text = String(data: data, encoding: .utf8) {
            presented = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        }
        guard presented == token else { return Response(status: .unauthorized) }
        return try await next(request, context)
    }
}
