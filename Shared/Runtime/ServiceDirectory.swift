import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import NIOCore
import NIOPosix
import NIOSSL

/// How this service reaches the others: one shared HTTP/2 client (TLS, trusting only the
/// internal CA) and this service's token on every call.
public struct ServiceDirectory: Sendable {
    /// The client of RPC calls to other services.
    public let http2: HTTP2Client
    /// A general HTTP client trusting the internal CA (raw requests to other services' ports).
    public let httpClient: HTTPClient
    public let caller: ServiceName
    let urls: [ServiceName: String]
    let tokens: ServiceTokens
    let timeout: Duration
    /// One client per service, made once: a client's token (an HMAC) and parsed URL are the same
    /// for every call (made per call, they were about 5 % of the gateway's request-handling
    /// threads' samples in perf, about 2 % of its CPU, on a kept score).
    private let clients: [ServiceName: RPCClient]

    public init(configuration: ServiceConfiguration, http2: HTTP2Client, httpClient: HTTPClient) {
        self.http2 = http2
        self.httpClient = httpClient
        caller = configuration.service
        urls = configuration.serviceURLs
        tokens = ServiceTokens(secret: configuration.serviceSecret)
        timeout = configuration.rpcTimeout
        let token = tokens.token(for: caller)
        clients = Dictionary(uniqueKeysWithValues: ServiceName.allCases.map { [urls, timeout] target in
            (target, RPCClient(
                transport: .http2(http2), baseURL: urls[target] ?? "https://127.0.0.1:\(target.defaultPort)", token: token, defaultTimeout: timeout))
        })
    }

    /// An RPC client for `target`, authenticated as this service.
    public func client(for target: ServiceName) -> RPCClient {
        // Every service has one (`ServiceName.allCases`).
        clients[target]!
    }

    /// An async-http-client trusting the internal CA: HTTP/2 by ALPN over TLS unless told otherwise.
    public static func makeHTTPClient(
        tls: TLSConfiguration, httpVersion: HTTPClient.Configuration.HTTPVersion = .automatic,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.httpVersion = httpVersion
        configuration.timeout = .init(connect: .seconds(5))
        return HTTPClient(eventLoopGroup: group, configuration: configuration)
    }
}

/// Logged by ServiceLifecycle as part of the services that hold it: names the caller only, never
/// the clients' tokens.
extension ServiceDirectory: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "ServiceDirectory(caller: \(caller.rawValue))" }
    public var debugDescription: String { description }
}
