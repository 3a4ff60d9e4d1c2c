import Foundation
import Logging
import PostgresNIO

/// The states of a durable job.
public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, dead, cancelled
}

/// A job as a worker receives it.
public struct Job: Sendable {
    public var id: Int64
    public var kind: String
    /// The payload as JSON text.
    public var payload: String
    /// 1 on the first run.
    public var attempt: Int
    public var maxAttempts: Int
    public var priority: Int

    /// The payload decoded as `T`.
    public func decodePayload<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(payload.utf8))
        } catch {
            throw JobError.permanent("payload of job \(id) (\(kind)) does not decode as \(T.self): \(error)")
        }
    }
}

/// A job row as the admin endpoints show it.
public struct JobRecord: Codable, Sendable {
    public var id: Int64
    public var kind: String
    public var state: JobState
    public var priority: Int
    public var attempts: Int
    public var maxAttempts: Int
    public var runAt: Date
    public var lastError: String?
    public var idempotencyKey: String?
    public var payload: String
    public var createdAt: Date
    public var finishedAt: Date?
}

/// How a job handler says a failure must not be retried.
public enum JobError: Error, CustomStringConvertible {
    /// Retrying cannot help (bad payload, a refusal); the job goes straight to dead.
    case permanent(String)

    public var description: String {
        switch self {
        case .permanent(let reason): reason
        }
    }
}

/// Options of one enqueued job.
public struct JobOptions: Sendable {
    /// Higher runs first.
    public var priority: Int
    public var runAt: Date?
    public var maxAttempts: Int
    /// A second enqueue with the same key enqueues nothing.
    public var idempotencyKey: String?

    public init(priority: Int = 0, runAt: Date? = nil, maxAttempts: Int = 5, idempotencyKey: String? = nil) {
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.idempotencyKey = idempotencyKey
    }
}

extension Duration {
    /// The duration as fractional seconds (for SQL intervals and arithmetic).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Retry delays: exponential with "equal jitter" (half fixed, half random), capped.
public struct Backoff: Sendable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(300)) {
        self.base = base
        self.cap = cap
    }

    /// The delay before the run after failed attempt number `attempt` (1-based).
    public func delay(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let baseSeconds = base.inSeconds
        let capSeconds = cap.inSeconds
        let full = min(capSeconds, baseSeconds * pow(2, Double(exponent)))
        let seconds = full / 2 + Double.random(in: 0...(full / 2))
        return .milliseconds(Int64(seconds * 1000))
    }
}
