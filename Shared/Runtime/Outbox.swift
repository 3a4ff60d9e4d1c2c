import BuildRiskContracts
import BuildRiskRPC
import Foundation
import Logging
import PostgresNIO

/// Delivers a call to another service until that service acknowledges it.
///
/// A message is a job (`outbox.deliver`) enqueued in the same transaction as the business write
/// that produced it, so it is sent if and only if the write commits. The job calls the target's
/// method; an answer is the acknowledgement. Transport failures and retryable errors are retried
/// with backoff (up to `maxAttempts`, then the message is dead and an admin can retry it); a
/// non-retryable refusal kills it at once. Receivers deduplicate by an id the message carries,
/// so a redelivery after a lost acknowledgement is harmless.
public enum Outbox {
    public static let jobKind = JobKind<Message>("outbox.deliver")
    /// About four hours of attempts with the default backoff before a message is declared dead.
    public static let maxAttempts = 60
    /// Deliveries in flight at once per service (a worker of their own, apart from the service's jobs).
    public static let concurrency = 4
    public static let backoff = Backoff(base: .milliseconds(200), cap: .seconds(300))

    public struct Message: Codable, Sendable {
        var target: ServiceName
        var method: String
        var params: JSONValue
    }

    /// Enqueues `method(params)` to `target` on `connection`. Returns nil when a message with the
    /// same key was already enqueued.
    @discardableResult
    public static func enqueue<P, R>(
        to target: ServiceName, _ method: RPCMethod<P, R>, _ params: P, key: String,
        queue: JobQueue, on connection: PostgresConnection
    ) async throws -> Int64? {
        let data = try JSONEncoder().encode(params)
        let value = try JSONDecoder().decode(JSONValue.self, from: data)
        return try await queue.enqueue(
            jobKind, Message(target: target, method: method.name, params: value),
            options: JobOptions(priority: 10, maxAttempts: maxAttempts, idempotencyKey: "outbox:\(key)"),
            on: connection)
    }

    /// The job handler that delivers messages.
    public static func handlers(directory: ServiceDirectory) -> JobHandlers {
        var handlers = JobHandlers()
        handlers.register(jobKind, backoff: backoff) { message, context in
            let params = try JSONEncoder().encode(message.params)
            do {
                _ = try await directory.client(for: message.target).call(method: message.method, paramsJSON: params)
                context.logger.debug("outbox message acknowledged", metadata: ["target": "\(message.target.rawValue)", "method": "\(message.method)"])
            } catch let error as RPCClientError where !error.isRetryable {
                throw JobError.permanent("\(message.target.rawValue) refused \(message.method): \(error)")
            }
        }
        return handlers
    }
}
