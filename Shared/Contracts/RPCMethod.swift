/// A typed JSON-RPC method: its wire name and the types of its params and result.
///
/// The server registers a handler for a descriptor and the client calls through the same
/// descriptor, so a mismatch between the two fails to compile.
public struct RPCMethod<Params: Codable & Sendable, Result: Codable & Sendable>: Sendable {
    public let name: String
    public let summary: String

    public init(_ name: String, summary: String) {
        self.name = name
        self.summary = summary
    }

    /// A type-erased description, used to list and document a service's methods.
    public var descriptor: RPCMethodDescriptor {
        RPCMethodDescriptor(name: name, summary: summary, paramsType: Params.self, resultType: Result.self)
    }
}

/// The type-erased shape of an ``RPCMethod``.
public struct RPCMethodDescriptor: Sendable {
    public let name: String
    public let summary: String
    public let paramsType: any (Codable & Sendable).Type
    public let resultType: any (Codable & Sendable).Type
}

/// Params or result of a method that carries nothing.
public struct Empty: Codable, Sendable, Equatable {
    public init() {}
}
