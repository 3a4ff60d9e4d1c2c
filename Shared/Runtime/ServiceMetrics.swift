import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization

/// A service's metrics, kept in its own Prometheus registry (not the process-global one, so
/// several services in one test process do not mix their numbers), written through swift-metrics.
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let seenJobSeries = Mutex(Set<[String]>())

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        self.factory = factory
    }

    /// Counts one answered HTTP request and records its latency.
    public func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        let dimensions = [("method", method), ("route", route), ("status", String(status))]
        Counter(label: "buildrisk_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Metrics.Timer(label: "buildrisk_http_request_duration_seconds", dimensions: [("method", method), ("route", route)], factory: factory)
            .recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// Counts one JSON-RPC method call by outcome ("ok" or the error kind).
    public func recordCall(method: String, outcome: String) {
        Counter(label: "buildrisk_rpc_calls_total", dimensions: [("method", method), ("outcome", outcome)], factory: factory).increment()
    }

    /// Sets the job gauges from fresh counts (kind → state → count); series that vanished read 0.
    public func updateJobs(_ counts: [String: [String: Int]]) {
        var current = Set<[String]>()
        for (kind, states) in counts {
            for (state, count) in states {
                current.insert([kind, state])
                Gauge(label: "buildrisk_jobs", dimensions: [("kind", kind), ("state", state)], factory: factory).record(count)
            }
        }
        let vanished = seenJobSeries.withLock { seen -> Set<[String]> in
            let vanished = seen.subtracting(current)
            seen.formUnion(current)
            return vanished
        }
        for series in vanished {
            Gauge(label: "buildrisk_jobs", dimensions: [("kind", series[0]), ("state", series[1])], factory: factory).record(0)
        }
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> String {
        registry.emitToString()
    }
}
