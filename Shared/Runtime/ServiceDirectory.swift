import AsyncHTTPClient
import BuildRiskContracts
import BuildRiskRPC
import NIOCore
import NIOPosix
import NIOSSL

/// How this service reaches the others: one shared HTTP/2 client (TLS, trusting only the
/// internal CA) and this service's token on every call.
public struct ServiceDirectory: Sendable {
    public let httpClient: HTTPClient
    public let caller: ServiceName
    let urls: [ServiceName: String]
    let tokens: ServiceTokens
    let timeout: Duration

    public init(configuration: ServiceConfiguration, httpClient: HTTPClient) {
        self.httpClient = httpClient
        caller = configuration.service
        urls = configuration.serviceURLs
        tokens = ServiceTokens(secret: configuration.serviceSecret)
        timeout = configuration.rpcTimeout
    }

    /// An RPC client for `target`, authenticated as this service.
    public func client(for target: ServiceName) -> RPCClient {
        RPCClient(
            httpClient: httpClient,
            baseURL: urls[target] ?? "https://127.0.0.1:\(target.defaultPort)",
            token: tokens.token(for: caller),
            defaultTimeout: timeout)
    }

    /// The HTTP client every service uses for internal calls: HTTP/2 by ALPN over TLS.
    public static func makeHTTPClient(tls: TLSConfiguration, httpVersion: HTTPClient.Configuration.HTTPVersion = .automatic) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.httpVersion = httpVersion
        configuration.timeout = .init(connect: .seconds(5))
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }
}
