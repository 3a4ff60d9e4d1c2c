import AsyncHTTPClient
import BuildRiskContracts
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOFoundationCompat

/// Why a call through ``RPCClient`` failed.
public enum RPCClientError: Error, Sendable, CustomStringConvertible {
    /// The server answered with a JSON-RPC error.
    case remote(RPCError)
    /// The call did not reach the server or its answer did not come back (connect, TLS, reset, timeout).
    case transport(String)
    /// The server answered something that is not a JSON-RPC response.
    case badResponse(status: Int, detail: String)

    /// Whether trying the same call again later may succeed.
    public var isRetryable: Bool {
        switch self {
        case .remote(let error): error.retryable
        case .transport: true
        case .badResponse(let status, _): status >= 500 || status == 429
        }
    }

    public var description: String {
        switch self {
        case .remote(let error): error.description
        case .transport(let detail): "transport failure: \(detail)"
        case .badResponse(let status, let detail): "bad response (HTTP \(status)): \(detail)"
        }
    }
}

/// A raw HTTP exchange on the RPC route, for tools and tests that inspect the transport.
public struct RPCExchange: Sendable {
    public var status: Int
    /// The negotiated protocol, e.g. "HTTP/2.0".
    public var httpVersion: String
    public var body: Data
}

/// How an ``RPCClient`` reaches the server.
public enum RPCTransport: Sendable {
    /// Services calling each other: ``HTTP2Client``, HTTP/2 over TLS, one multiplexed connection per peer.
    case http2(HTTP2Client)
    /// async-http-client, as configured (HTTP/1.1 or HTTP/2 by ALPN): tools, tests, and the HTTP/1.1
    /// comparison in bench-rpc.
    case httpClient(HTTPClient)
}

/// Calls another service's `POST /rpc` through typed ``RPCMethod`` descriptors.
public struct RPCClient: Sendable {
    public let transport: RPCTransport
    public let baseURL: String
    public let host: String
    public let port: Int
    /// Sent as `Authorization: Bearer`; the receiving service refuses calls without a valid one.
    let token: String
    public var defaultTimeout: Duration
    private let encoder = JSONEncoder()
    private let decoder = JSONDecoder()

    public init(transport: RPCTransport, baseURL: String, token: String, defaultTimeout: Duration = .seconds(30)) {
        self.transport = transport
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        let components = URLComponents(string: self.baseURL)
        host = components?.host ?? "127.0.0.1"
        port = components?.port ?? (components?.scheme == "http" ? 80 : 443)
        self.token = token
        self.defaultTimeout = defaultTimeout
    }

    public init(httpClient: HTTPClient, baseURL: String, token: String, defaultTimeout: Duration = .seconds(30)) {
        self.init(transport: .httpClient(httpClient), baseURL: baseURL, token: token, defaultTimeout: defaultTimeout)
    }

    /// Calls `method` and returns its typed result.
    public func call<P, R>(_ method: RPCMethod<P, R>, _ params: P, timeout: Duration? = nil) async throws(RPCClientError) -> R {
        try await result(of: method, body: try requestBody(method, params), timeout: timeout)
    }

    /// A request's body: the envelope with `params`.
    private func requestBody<P, R>(_ method: RPCMethod<P, R>, _ params: P) throws(RPCClientError) -> Data {
        do {
            return try encoder.encode(RequestEnvelope(method: method.name, params: params, id: .number(1)))
        } catch {
            throw .transport("could not encode params of \(method.name): \(error)")
        }
    }

    /// Calls `method` with params already encoded as JSON (a gateway forwarding a large posted
    /// body it has checked but not decoded) and returns its typed result.
    public func call<P, R>(_ method: RPCMethod<P, R>, paramsJSON: Data, timeout: Duration? = nil) async throws(RPCClientError) -> R {
        try await result(of: method, body: try requestBody(method.name, paramsJSON: paramsJSON), timeout: timeout)
    }

    /// A request's body around params already encoded.
    private func requestBody(_ method: String, paramsJSON: Data) throws(RPCClientError) -> Data {
        var body = Data(#"{"jsonrpc":"2.0","id":1,"method":"#.utf8)
        do {
            body.append(try encoder.encode(method))
        } catch {
            throw .transport("could not encode method name: \(error)")
        }
        body.append(contentsOf: #","params":"#.utf8)
        body.append(paramsJSON)
        body.append(UInt8(ascii: "}"))
        return body
    }

    private func result<P, R>(of method: RPCMethod<P, R>, body: Data, timeout: Duration?) async throws(RPCClientError) -> R {
        let exchange = try await send(body: body, timeout: timeout)
        // One decoding pass straight into the result type.
        let envelope: ResponseEnvelope<R>
        do {
            envelope = try decoder.decode(ResponseEnvelope<R>.self, from: exchange.body)
        } catch {
            throw .badResponse(status: exchange.status, detail: "answer of \(method.name) does not decode as \(R.self): \(error); body: \(String(decoding: exchange.body.prefix(300), as: UTF8.self))")
        }
        if let error = envelope.error { throw .remote(error) }
        guard exchange.status == 200, let result = envelope.result else {
            throw .badResponse(status: exchange.status, detail: "response has neither result nor error")
        }
        return result
    }

    /// Sends a notification: the server runs the method and answers nothing.
    public func notify<P, R>(_ method: RPCMethod<P, R>, _ params: P, timeout: Duration? = nil) async throws(RPCClientError) {
        let body: Data
        do {
            body = try encoder.encode(RequestEnvelope(method: method.name, params: params, id: nil))
        } catch {
            throw .transport("could not encode params of \(method.name): \(error)")
        }
        let exchange = try await send(body: body, timeout: timeout)
        guard exchange.status == 204 || exchange.status == 200 else {
            throw .badResponse(status: exchange.status, detail: String(decoding: exchange.body.prefix(500), as: UTF8.self))
        }
    }

    /// Calls a method by name with already-encoded params and returns the encoded result;
    /// the outbox uses this to deliver messages it stored as JSON.
    public func call(method: String, paramsJSON: Data, timeout: Duration? = nil) async throws(RPCClientError) -> Data {
        try await callRaw(body: try requestBody(method, paramsJSON: paramsJSON), timeout: timeout)
    }

    /// Calls `method` and returns its result as the JSON the server wrote, not decoded (a gateway
    /// answering it unchanged); a refusal throws as `call` does.
    public func callForJSON<P, R>(_ method: RPCMethod<P, R>, _ params: P, timeout: Duration? = nil) async throws(RPCClientError) -> Data {
        try await callRaw(body: try requestBody(method, params), timeout: timeout)
    }

    private func callRaw(body: Data, timeout: Duration?) async throws(RPCClientError) -> Data {
        let exchange = try await send(body: body, timeout: timeout)
        // The envelope is scanned, not decoded: the result's bytes are cut out as they came.
        let result: Data? = exchange.body.withUnsafeBytes { raw in
            guard exchange.status == 200, let document = JSONScanner.scan(raw), document.root.kind == .object else { return nil }
            let members = document.members(of: document.root, in: raw)
            guard !members.contains(where: { $0.key == "error" }), let result = members.first(where: { $0.key == "result" }) else { return nil }
            return Data(raw[result.value.range])
        }
        if let result { return result }
        let envelope: ResponseEnvelope<JSONValue>
        do {
            envelope = try decoder.decode(ResponseEnvelope<JSONValue>.self, from: exchange.body)
        } catch {
            throw .badResponse(status: exchange.status, detail: String(decoding: exchange.body.prefix(500), as: UTF8.self))
        }
        if let error = envelope.error { throw .remote(error) }
        throw .badResponse(status: exchange.status, detail: "response has neither result nor error")
    }

    /// Posts a raw body to `/rpc` and returns status, protocol and body as they came.
    public func send(body: Data, timeout: Duration? = nil, extraHeaders: [(String, String)] = []) async throws(RPCClientError) -> RPCExchange {
        let timeout = timeout ?? defaultTimeout
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        var fields: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(token)"]
        fields[RPCHeader.timeoutField] = String(milliseconds)
        for (name, value) in extraHeaders {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        switch transport {
        case .http2(let client):
            let head = HTTPRequest(method: .post, scheme: "https", authority: "\(host):\(port)", path: "/rpc", headerFields: fields)
            do {
                var response = try await client.execute(host: host, port: port, head: head, body: ByteBuffer(data: body), timeout: timeout)
                let bytes = response.body.readData(length: response.body.readableBytes) ?? Data()
                return RPCExchange(status: response.status, httpVersion: "HTTP/2.0", body: bytes)
            } catch HTTP2ClientError.timedOut {
                throw .transport("no answer within \(timeout)")
            } catch {
                throw .transport("\(error)")
            }
        case .httpClient(let httpClient):
            var request = HTTPClientRequest(url: baseURL + "/rpc")
            request.method = .POST
            for field in fields { request.headers.add(name: field.name.rawName, value: field.value) }
            request.body = .bytes(ByteBuffer(data: body))
            do {
                let response = try await httpClient.execute(request, timeout: .milliseconds(milliseconds))
                var buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
                let bytes = buffer.readData(length: buffer.readableBytes) ?? Data()
                return RPCExchange(status: Int(response.status.code), httpVersion: "\(response.version)", body: bytes)
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
                throw .transport("no answer within \(timeout)")
            } catch {
                throw .transport("\(error)")
            }
        }
    }
}

extension RPCHeader {
    /// ``timeout`` as an HTTP field name.
    public static let timeoutField = HTTPField.Name(timeout)!
}

/// A client in a log names where it calls, never its token.
extension RPCClient: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "RPCClient(\(baseURL))" }
    public var debugDescription: String { description }
}
