import BuildRiskContracts
import Foundation
import Logging

/// What a handler knows about the call it serves.
public struct RPCCallContext: Sendable {
    /// The authenticated calling service (or principal).
    public var caller: String
    public var logger: Logger
    /// When the caller stops waiting, if it said.
    public var deadline: ContinuousClock.Instant?
    /// Whether something outside the dispatcher (the server, with a timer on its event loop)
    /// already cancels the call's task at ``deadline``; otherwise the dispatcher watches it itself.
    public var deadlineWatched: Bool

    public init(caller: String, logger: Logger, deadline: ContinuousClock.Instant?, deadlineWatched: Bool = false) {
        self.caller = caller
        self.logger = logger
        self.deadline = deadline
        self.deadlineWatched = deadlineWatched
    }
}

/// A registry of typed method handlers that answers JSON-RPC 2.0 bodies: single calls, batches
/// and notifications, each malformed input with its own error code.
public struct RPCDispatcher: Sendable {
    /// A method's handler on the raw `params` bytes (nil when the request has none).
    typealias RawHandler = @Sendable (Data?, RPCCallContext) async throws -> Data

    private var handlers: [String: RawHandler] = [:]
    /// Told of every call that reached a method: its name and "ok" or the error kind.
    public var observer: (@Sendable (_ method: String, _ outcome: String) -> Void)?
    private let decoder = JSONDecoder()
    private let encoder: JSONEncoder

    public init() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.encoder = encoder
    }

    /// The names of the registered methods.
    public var methodNames: [String] { handlers.keys.sorted() }

    /// Registers the handler of one typed method; a second registration of a name replaces the first.
    public mutating func register<P, R>(
        _ method: RPCMethod<P, R>,
        _ handler: @escaping @Sendable (P, RPCCallContext) async throws -> R
    ) {
        registerEncoded(method) { params, context, encode in try encode(try await handler(params, context)) }
    }

    /// Registers the handler of one typed method that answers its result's JSON itself, made with
    /// `encode` (the dispatcher's own encoding): a handler that keeps answers gives them again
    /// without encoding them anew.
    public mutating func registerEncoded<P, R>(
        _ method: RPCMethod<P, R>,
        _ handler: @escaping @Sendable (P, RPCCallContext, _ encode: @Sendable (R) throws -> Data) async throws -> Data
    ) {
        let decoder = self.decoder
        let encoder = self.encoder
        handlers[method.name] = { paramsBytes, context in
            let params: P
            do {
                params = try decoder.decode(P.self, from: paramsBytes ?? Data("{}".utf8))
            } catch let error as DecodingError {
                throw RPCError.invalidParams(Self.describe(error))
            }
            return try await handler(params, context) { try encoder.encode($0) }
        }
    }

    /// Answers a request body. Returns nil when nothing is to be answered (notifications only).
    ///
    /// The envelope is read by ``JSONScanner`` in one pass; only `params` goes through `JSONDecoder`.
    public func respond(to body: Data, context: RPCCallContext) async -> Data? {
        enum Parsed {
            case answer(Data)
            case single(Envelope?)
            case batch([Envelope?])
        }
        let parsed: Parsed = body.withUnsafeBytes { raw in
            guard let document = JSONScanner.scan(raw) else { return .answer(encodeError(.parseError, id: .null)) }
            switch document.root.kind {
            case .array:
                let members = document.elements(of: document.root)
                if members.isEmpty { return .answer(encodeError(.invalidRequest("an empty batch is not a request"), id: .null)) }
                return .batch(members.map { Envelope($0, of: document, in: raw) })
            default:
                return .single(Envelope(document.root, of: document, in: raw))
            }
        }
        switch parsed {
        case .answer(let answer):
            return answer
        case .single(let envelope):
            return await respondToSingle(envelope, context: context)
        case .batch(let envelopes):
            var answers: [Data] = []
            answers.reserveCapacity(envelopes.count)
            for envelope in envelopes {
                if let answer = await respondToSingle(envelope, context: context) { answers.append(answer) }
            }
            if answers.isEmpty { return nil }
            var out = Data("[".utf8)
            for (index, answer) in answers.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(answer)
            }
            out.append(UInt8(ascii: "]"))
            return out
        }
    }

    /// Answers one request (a whole body or a batch member); nil for a notification. `envelope`
    /// is nil when the request is valid JSON but not an object.
    private func respondToSingle(_ envelope: Envelope?, context: RPCCallContext) async -> Data? {
        guard let head = envelope else {
            return encodeError(.invalidRequest("a request must be a JSON object"), id: .null)
        }
        let id: JSONRPCID?
        switch head.id {
        case .absent: id = nil
        case .valid(let value): id = value
        case .invalid: return encodeError(.invalidRequest("'id' must be a string, a number or null"), id: .null)
        }
        guard head.versionValid else {
            return encodeError(.invalidRequest("'jsonrpc' must be exactly \"2.0\""), id: id ?? .null)
        }
        guard let method = head.method else {
            return encodeError(.invalidRequest("'method' must be a string"), id: id ?? .null)
        }
        switch head.params {
        case .absent, .object: break
        case .array:
            return encodeError(.invalidParams("params must be passed by name (a JSON object)"), id: id ?? .null)
        case .invalid:
            return encodeError(.invalidRequest("'params' must be an object or an array"), id: id ?? .null)
        }
        guard let handler = handlers[method] else {
            // A notification is never answered, not even with an error (JSON-RPC 2.0 §4.1).
            return id.map { encodeError(.methodNotFound(method), id: $0) }
        }

        let outcome: Result<Data, RPCError>
        do {
            let result = try await Self.withDeadline(context.deadlineWatched ? nil : context.deadline) {
                try await handler(head.paramsBytes, context)
            }
            outcome = .success(result)
        } catch let error as RPCError {
            outcome = .failure(error)
        } catch is CancellationError {
            if let deadline = context.deadline, ContinuousClock.now >= deadline {
                outcome = .failure(Self.deadlineExceeded)
            } else {
                outcome = .failure(RPCError(.deadlineExceeded, "Call cancelled", reason: "the call was cancelled before it finished"))
            }
        } catch {
            context.logger.error("RPC method failed", metadata: ["method": "\(method)", "error": "\(error)"])
            outcome = .failure(.internalError("the method failed unexpectedly (\(type(of: error)))"))
        }
        if let observer {
            switch outcome {
            case .success: observer(method, "ok")
            case .failure(let error): observer(method, error.kind?.rawValue ?? "error")
            }
        }
        guard let id else { return nil }
        switch outcome {
        case .success(let result):
            var out = Data(#"{"jsonrpc":"2.0","id":"#.utf8)
            switch id {
            case .number(let number): out.append(contentsOf: String(number).utf8)
            case .null: out.append(contentsOf: "null".utf8)
            case .string: out.append((try? encoder.encode(id)) ?? Data("null".utf8))
            }
            out.append(contentsOf: #","result":"#.utf8)
            out.append(result)
            out.append(UInt8(ascii: "}"))
            return out
        case .failure(let error):
            return encodeError(error, id: id)
        }
    }

    func encodeError(_ error: RPCError, id: JSONRPCID) -> Data {
        (try? encoder.encode(ErrorResponse(error: error, id: id)))
            ?? Data(#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":null}"#.utf8)
    }

    /// Runs `work`, stopping it with `deadline_exceeded` when the deadline passes first.
    static func withDeadline<T: Sendable>(
        _ deadline: ContinuousClock.Instant?, _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard let deadline else { return try await work() }
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                throw deadlineExceeded
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    static let deadlineExceeded = RPCError(.deadlineExceeded, "Deadline exceeded", reason: "the caller's deadline passed before the method finished")

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            var keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            if keys.first == "params" { keys.removeFirst() }
            return keys.isEmpty ? "params" : "params." + keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "\(parent).\(key.stringValue) is required"
        case .typeMismatch(let type, let context):
            return "\(path(context)) must be of type \(type)"
        case .valueNotFound(let type, let context):
            return "\(path(context)) must not be null (expected \(type))"
        case .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "params could not be decoded"
        }
    }

}
