import BuildRiskContracts
import Foundation

/// The OpenRPC 1.3 document of a service, generated from its typed method descriptors.
public enum OpenRPCDocument {
    /// The document as a JSON value (compare with `contracts/<service>.openrpc.json`).
    public static func make(service: ServiceName, methods: [RPCMethodDescriptor]) -> JSONValue {
        let methodDocuments: [JSONValue] = methods.sorted { $0.name < $1.name }.map { method in
            let params = SchemaProbe.properties(of: method.paramsType).map { property -> JSONValue in
                .object([
                    "name": .string(property.name),
                    "required": .bool(property.required),
                    "schema": property.schema,
                ])
            }
            return .object([
                "name": .string(method.name),
                "summary": .string(method.summary),
                "paramStructure": .string("by-name"),
                "params": .array(params),
                "result": .object([
                    "name": .string("result"),
                    "schema": SchemaProbe.schema(of: method.resultType),
                ]),
            ])
        }
        let errors: [String: JSONValue] = Dictionary(uniqueKeysWithValues: RPCErrorKind.allCases.map { kind in
            (kind.rawValue, JSONValue.object([
                "code": .number(Double(kind.code)),
                "message": .string(kind.rawValue),
                "data": .object(["kind": .string(kind.rawValue), "retryable": .bool(kind.defaultRetryable)]),
            ]))
        })
        return .object([
            "openrpc": .string("1.3.2"),
            "info": .object([
                "title": .string("BuildRisk \(service.rawValue)"),
                "version": .string("1"),
                "description": .string("JSON-RPC 2.0 over HTTP/2 (TLS, internal CA) at POST /rpc. Every call needs Authorization: Bearer <service token>; x-rpc-timeout-ms sets the call's deadline. Errors carry data.kind and data.retryable."),
            ]),
            "servers": .array([.object([
                "name": .string(service.rawValue),
                "url": .string("https://127.0.0.1:\(service.defaultPort)/rpc"),
            ])]),
            "methods": .array(methodDocuments),
            "components": .object(["errors": .object(errors)]),
        ])
    }

    /// The document as pretty, key-sorted JSON text with a trailing newline.
    public static func text(service: ServiceName, methods: [RPCMethodDescriptor]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(make(service: service, methods: methods)), as: UTF8.self) + "\n"
    }
}
