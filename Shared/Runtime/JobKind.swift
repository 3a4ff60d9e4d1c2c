import BuildRiskContracts

/// A typed job kind: its name and the type of its payload, shared by the code that enqueues a
/// job and the handler that runs it — what ``RPCMethod`` is for calls. A payload of the wrong
/// type fails to compile at either end.
public struct JobKind<Payload: Codable & Sendable>: Sendable {
    public let name: String

    public init(_ name: String) {
        self.name = name
    }

    /// The kind without its payload type, for the list a service declares.
    public var erased: AnyJobKind { AnyJobKind(name: name) }
}

/// A job kind's name, as a service declares the kinds it enqueues (``ServiceDefinition/jobKinds``).
public struct AnyJobKind: Sendable, Hashable {
    public let name: String
}

/// The job handlers of one worker, registered by typed kind.
///
/// The runtime checks them at start against the kinds the service declares (``check(declared:)``):
/// a declared kind without a handler, a handler for an undeclared kind, or a kind registered twice
/// stops the service with the kind's name, instead of leaving jobs queued that nothing runs.
public struct JobHandlers: Sendable {
    public private(set) var byName: [String: JobHandler] = [:]
    private var registeredTwice: [String] = []

    public init() {}

    /// Runs jobs of `kind` with `run`, which receives the decoded payload; a payload that does not
    /// decode fails the job permanently.
    public mutating func register<Payload>(
        _ kind: JobKind<Payload>, backoff: Backoff = Backoff(),
        _ run: @escaping @Sendable (Payload, JobContext) async throws -> Void
    ) {
        if byName[kind.name] != nil { registeredTwice.append(kind.name) }
        byName[kind.name] = JobHandler(backoff: backoff) { job, context in
            try await run(try job.decodePayload(Payload.self), context)
        }
    }

    public var isEmpty: Bool { byName.isEmpty }

    /// Throws when a declared kind has no handler, a handler's kind is not declared, or a kind
    /// was registered twice.
    public func check(declared: [AnyJobKind]) throws {
        let declaredNames = Set(declared.map(\.name))
        if let twice = registeredTwice.first {
            throw ConfigurationError("job kind '\(twice)' has two handlers")
        }
        if let missing = declaredNames.subtracting(byName.keys).sorted().first {
            throw ConfigurationError("job kind '\(missing)' is declared but has no handler: its jobs would never run")
        }
        if let undeclared = Set(byName.keys).subtracting(declaredNames).sorted().first {
            throw ConfigurationError("a handler is registered for job kind '\(undeclared)', which the service does not declare")
        }
    }
}
