import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A Compute Engine task (`GET api/ce/task?id=`), the fields the bridge reads.
public struct SonarCETask: Codable, Sendable, Equatable {
    public var id: String
    public var type: String?
    public var componentKey: String?
    /// `PENDING`, `IN_PROGRESS`, `SUCCESS`, `FAILED` or `CANCELED`.
    public var status: String
    public var analysisId: String?
    public var submittedAt: String?
    public var executedAt: String?
    public var errorMessage: String?
}

/// One measure of `api/measures/component`; SonarQube sends every value as a string.
public struct SonarMeasure: Codable, Sendable, Equatable {
    public var metric: String
    public var value: String?
    public var bestValue: Bool?
}

/// SonarQube's Web API as the bridge uses it: a task's outcome and a component's measures.
public struct SonarQubeClient: Sendable {
    /// The measures fetched when a version selects none in particular.
    public static let defaultMetricKeys = [
        "bugs", "vulnerabilities", "code_smells", "coverage", "duplicated_lines_density", "ncloc", "complexity",
        "cognitive_complexity", "sqale_index", "security_hotspots", "reliability_rating", "security_rating",
        "sqale_rating", "lines", "functions", "files", "comment_lines_density", "duplicated_lines",
    ]

    let httpClient: HTTPClient
    let baseURL: String
    let token: String
    let timeout: TimeAmount

    public init(httpClient: HTTPClient, baseURL: String, token: String, timeout: TimeAmount = .seconds(30)) {
        self.httpClient = httpClient
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = timeout
    }

    /// `GET api/ce/task?id=`.
    public func task(id: String) async throws(ScanFailure) -> SonarCETask {
        struct Envelope: Decodable { var task: SonarCETask }
        let envelope: Envelope = try await get("api/ce/task", query: [("id", id)])
        return envelope.task
    }

    /// `GET api/measures/component?component=&metricKeys=`; a metric with no value is left out.
    public func measures(component: String, metricKeys: [String]) async throws(ScanFailure) -> [SonarMeasure] {
        struct Envelope: Decodable {
            struct Component: Decodable { var key: String; var measures: [SonarMeasure] }
            var component: Component
        }
        let envelope: Envelope = try await get("api/measures/component", query: [("component", component), ("metricKeys", metricKeys.joined(separator: ","))])
        return envelope.component.measures
    }

    /// The component's measures as `sonar_` metrics, limited to the version's selection (prefixed names or
    /// `sonar_*`-style wildcards; `nil` takes ``defaultMetricKeys``). Values that are not numbers (a quality
    /// gate's `OK`, a distribution) are not metrics and are dropped.
    public func metrics(component: String, selection: [String]? = nil) async throws(ScanFailure) -> ScanMetrics {
        let keys = SonarQubeClient.metricKeys(for: selection)
        guard !keys.isEmpty else { return ScanMetrics() }
        return SonarQubeClient.metrics(from: try await measures(component: component, metricKeys: keys)).filtered(to: selection)
    }

    /// SonarQube metric keys for a selection of `sonar_` metric names.
    public static func metricKeys(for selection: [String]?) -> [String] {
        guard let selection else { return defaultMetricKeys }
        var keys: [String] = []
        for name in selection where name.hasPrefix("sonar_") {
            if name.hasSuffix("*") {
                let stem = String(name.dropFirst(6).dropLast())
                keys += defaultMetricKeys.filter { $0.hasPrefix(stem) }
            } else {
                keys.append(String(name.dropFirst(6)))
            }
        }
        var seen = Set<String>()
        return keys.filter { seen.insert($0).inserted }
    }

    public static func metrics(from measures: [SonarMeasure]) -> ScanMetrics {
        var metrics = ScanMetrics()
        for measure in measures {
            guard let text = measure.value, let value = Double(text) else { continue }
            metrics["sonar_\(measure.metric)"] = value
        }
        return metrics
    }

    private func get<T: Decodable>(_ path: String, query: [(String, String)]) async throws(ScanFailure) -> T {
        var components = URLComponents()
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        // URLComponents leaves `+` and `:` as they are, and SonarQube would read a `+` as a space.
        let encoded = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        var request = HTTPClientRequest(url: "\(baseURL)/\(path)?\(encoded)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        let body: ByteBuffer
        let status: HTTPResponseStatus
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            status = response.status
            body = try await response.body.collect(upTo: 8 << 20)
        } catch {
            throw ScanFailure(kind: .serverFailed, reason: "SonarQube \(path) could not be reached: \(error)")
        }
        guard status == .ok else {
            throw ScanFailure(kind: .serverFailed, reason: "SonarQube \(path) answered \(status.code): \(SonarQubeClient.errorMessages(body))")
        }
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw ScanFailure(kind: .badReport, reason: "SonarQube \(path) sent an unexpected body: \(TrivyReport.describe(error))")
        }
    }

    /// SonarQube's error body is `{"errors":[{"msg":"..."}]}`.
    static func errorMessages(_ body: ByteBuffer) -> String {
        struct Errors: Decodable {
            struct Message: Decodable { var msg: String }
            var errors: [Message]
        }
        if let errors = try? JSONDecoder().decode(Errors.self, from: body) { return errors.errors.map(\.msg).joined(separator: "; ") }
        return String(buffer: body).prefix(300).description
    }
}
