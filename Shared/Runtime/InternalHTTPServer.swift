import HTTPTypes
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOHTTPTypesHTTP2
import NIOPosix
import NIOSSL
import BuildRiskRPC
import ServiceLifecycle
import Synchronization

/// A request as the internal server hands it on: the head and the whole body, already bounded.
public struct InternalRequest: Sendable {
    public var head: HTTPRequest
    /// The body, or nil when it was longer than the server's limit (the responder answers that).
    public var body: ByteBuffer?
    /// "HTTP/2.0" or "HTTP/1.1", as negotiated.
    public var httpVersion: String
    /// The connection (HTTP/1.1) or stream (HTTP/2) channel the request came on.
    public var channel: any Channel
}

/// A whole response.
public struct InternalResponse: Sendable {
    public var head: HTTPResponse
    public var body: ByteBuffer

    public init(head: HTTPResponse, body: ByteBuffer) {
        self.head = head
        self.body = body
    }
}

/// Answers one request.
public typealias InternalResponder = @Sendable (InternalRequest) async -> InternalResponse

/// The internal port of every service: TLS with ALPN `h2` and `http/1.1`, one channel handler per
/// HTTP/2 stream that gathers the request and runs the responder in one task, and writes the answer
/// back on the stream's event loop.
///
/// Why not Hummingbird's HTTP/2 server (which serves the gateway's public port): it wraps every
/// stream in a `NIOAsyncChannel` and walks the request and response parts through async
/// sequences, about a dozen hand-offs between the event loop and the Swift executor per call.
/// On this 2-core machine that capped JSON-RPC over HTTP/2 at 2,100–3,300 calls/s with 16 in
/// flight, below HTTP/1.1 (DESIGN.md, "Measured here (scripts/bench-rpc)"). Internal requests are
/// small JSON bodies answered whole, so gathering the body on the event loop and crossing to the
/// executor once and back once is all a call needs.
///
/// Graceful shutdown stops accepting, sends GOAWAY on every HTTP/2 connection at once (a client
/// opens no new stream there and moves to a new connection, which the closed listener refuses),
/// lets in-flight requests finish (HTTP/1.1 closes idle keep-alive connections) and returns when
/// every connection has closed, or after `drainTimeout`, closing what is still open. The runtime
/// stops this server first of a service's parts, so nothing is answered from a stopped part.
public struct InternalHTTPServer: Service {
    public let host: String
    public let port: Int
    public let tlsConfiguration: TLSConfiguration
    public let maxBodyBytes: Int
    public let drainTimeout: Duration
    public let responder: InternalResponder
    public let logger: Logger
    let onBound: (@Sendable (Int) -> Void)?

    public init(
        host: String, port: Int, tlsConfiguration: TLSConfiguration, maxBodyBytes: Int, drainTimeout: Duration = .seconds(10),
        logger: Logger, onBound: (@Sendable (Int) -> Void)? = nil, responder: @escaping InternalResponder
    ) {
        self.host = host
        self.port = port
        self.tlsConfiguration = tlsConfiguration
        self.maxBodyBytes = maxBodyBytes
        self.drainTimeout = drainTimeout
        self.responder = responder
        self.logger = logger
        self.onBound = onBound
    }

    public func run() async throws {
        var tls = tlsConfiguration
        tls.applicationProtocols = ["h2", "http/1.1"]
        let sslContext = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup.singleton
        let quiescing = ServerQuiescingHelper(group: group)
        let responder = self.responder
        let maxBodyBytes = self.maxBodyBytes
        let drainTimeout = self.drainTimeout
        let connections = OpenConnections()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([NIOSSLServerHandler(context: sslContext), FlushCoalescer()])
                }.flatMap {
                    channel.configureHTTP2SecureUpgrade(
                        h2ChannelConfigurator: { channel in
                            // Graceful shutdown (ChannelShouldQuiesceEvent) sends GOAWAY at once, then,
                            // once the peer has acknowledged a PING, GOAWAY naming the last stream it may
                            // finish; the connection closes when those streams are answered, or after the drain.
                            let manager = NIOHTTP2ServerConnectionManagementHandler(
                                eventLoop: channel.eventLoop,
                                configuration: .init(maxIdleTime: nil, maxAge: nil, maxGraceTime: TimeAmount(drainTimeout), keepalive: nil))
                            return channel.configureHTTP2Pipeline(
                                mode: .server, connectionConfiguration: .init(), streamConfiguration: .init(),
                                streamDelegate: manager.http2StreamDelegate,
                                inboundStreamInitializer: { stream in
                                stream.eventLoop.makeCompletedFuture {
                                    try stream.pipeline.syncOperations.addHandlers([
                                        HTTP2FramePayloadToHTTPServerCodec(),
                                        InternalRequestHandler(responder: responder, maxBodyBytes: maxBodyBytes, httpVersion: "HTTP/2.0"),
                                    ])
                                }
                            }).flatMapThrowing { _ in try channel.pipeline.syncOperations.addHandler(manager) }
                        },
                        http1ChannelConfigurator: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                                try channel.pipeline.syncOperations.addHandlers([
                                    HTTP1ToHTTPServerCodec(secure: true),
                                    InternalRequestHandler(responder: responder, maxBodyBytes: maxBodyBytes, httpVersion: "HTTP/1.1"),
                                ])
                            }
                        })
                }
            }
        let serverChannel = try await bootstrap.bind(host: host, port: port).get()
        let boundPort = serverChannel.localAddress?.port ?? port
        logger.info("internal server listening", metadata: ["address": "\(host):\(boundPort)", "protocols": "h2, http/1.1"])
        onBound?(boundPort)

        let drained = group.any().makePromise(of: Void.self)
        let finish = Once()
        let logger = self.logger
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await drained.futureResult.get()
        } onCancelOrGracefulShutdown: {
            let quiesced = drained.futureResult.eventLoop.makePromise(of: Void.self)
            quiescing.initiateShutdown(promise: quiesced)
            quiesced.futureResult.whenComplete { _ in if finish.first() { drained.succeed() } }
            // Connections that never finish (a peer that holds a stream open) do not hold the process.
            drained.futureResult.eventLoop.scheduleTask(in: TimeAmount(drainTimeout)) {
                guard finish.first() else { return }
                logger.warning("internal server: connections still open after the drain timeout; closing them")
                // Not left open behind a stopped service, answering from parts that have stopped.
                connections.closeAll()
                drained.succeed()
            }
        }
        // A cancelled task (not a graceful shutdown) still closes the listener.
        try? await serverChannel.close()
    }
}

/// The server's open connections, so the ones still open when the drain ends can be closed.
final class OpenConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        channels.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in self?.channels.withLock { _ = $0.removeValue(forKey: key) } }
    }

    func closeAll() {
        for channel in channels.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}

/// True for the first caller only.
final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    func first() -> Bool { !done.exchange(true, ordering: .relaxed) }
}

/// Gathers one request (head, bounded body, end), runs the responder in a task, and writes the
/// whole response back on the channel's event loop. Used for each HTTP/2 stream and for each
/// HTTP/1.1 connection (where NIO's pipelining handler serves one request at a time).
final class InternalRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private let responder: InternalResponder
    private let maxBodyBytes: Int
    private let httpVersion: String
    private var head: HTTPRequest?
    private var body: ByteBuffer?
    private var bodyTooLarge = false
    private var running: Task<Void, Never>?
    private var deadlineTimer: Scheduled<Void>?

    init(responder: @escaping InternalResponder, maxBodyBytes: Int, httpVersion: String) {
        self.responder = responder
        self.maxBodyBytes = maxBodyBytes
        self.httpVersion = httpVersion
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = nil
            bodyTooLarge = false
        case .body(var chunk):
            guard !bodyTooLarge else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBodyBytes {
                // Keep reading (and dropping) so the peer can finish sending; the responder refuses.
                bodyTooLarge = true
                body = nil
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            let request = InternalRequest(
                head: head, body: bodyTooLarge ? nil : (body ?? context.channel.allocator.buffer(capacity: 0)),
                httpVersion: httpVersion, channel: context.channel)
            self.head = nil
            body = nil
            let eventLoop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: eventLoop)
            let responder = self.responder
            let task = Task {
                let response = await responder(request)
                eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.write(response, context: context)
                }
            }
            running = task
            // The caller's deadline (x-rpc-timeout-ms) cancels the work when it passes: a timer on
            // this event loop, far cheaper than a sleeping task per call.
            if let header = head.headerFields[RPCHeader.timeoutField], let milliseconds = Int64(header), milliseconds > 0 {
                deadlineTimer = eventLoop.scheduleTask(in: .milliseconds(milliseconds)) { task.cancel() }
            }
        }
    }

    /// A peer that goes away (stream reset, connection closed) cancels the work it asked for.
    func channelInactive(context: ChannelHandlerContext) {
        running?.cancel()
        running = nil
        deadlineTimer?.cancel()
        deadlineTimer = nil
        context.fireChannelInactive()
    }

    private func write(_ response: InternalResponse, context: ChannelHandlerContext) {
        running = nil
        deadlineTimer?.cancel()
        deadlineTimer = nil
        var head = response.head
        head.headerFields[.contentLength] = String(response.body.readableBytes)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(response.body)), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
