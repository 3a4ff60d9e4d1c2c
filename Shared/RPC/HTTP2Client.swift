import HTTPTypes
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// A whole HTTP response as ``HTTP2Client`` hands it back.
public struct HTTP2Response: Sendable {
    public var status: Int
    public var body: ByteBuffer
}

/// Why an ``HTTP2Client`` request failed.
public enum HTTP2ClientError: Error, Sendable, CustomStringConvertible {
    case connect(String)
    case timedOut(Duration)
    case responseTooLarge(Int)
    case streamClosed(String)
    case shutDown

    public var description: String {
        switch self {
        case .connect(let detail): "could not connect: \(detail)"
        case .timedOut(let limit): "no answer within \(limit)"
        case .responseTooLarge(let limit): "the response is longer than \(limit) bytes"
        case .streamClosed(let detail): "the stream closed before the response ended: \(detail)"
        case .shutDown: "the client is shut down"
        }
    }
}

/// The HTTP/2 client services call each other with: one TLS connection per peer (ALPN `h2`), one
/// stream per request, the response gathered on the event loop and handed back whole.
///
/// Why not async-http-client (which still serves calls to GitHub and the HTTP/1.1 comparison in
/// bench-rpc): its HTTP/2 path bridges every request and response through its own state machines
/// and executor hand-offs; with the server fixed, it alone spent about 60 % of the CPU of a
/// bench-rpc run and held calls over HTTP/2 below HTTP/1.1. Here a call is one task that awaits one
/// promise, completed by the stream's handler.
///
/// A connection that closes or refuses new streams (GOAWAY) is dropped and the next request opens
/// another; a request that could not open its stream is tried once more on a fresh connection.
public final class HTTP2Client: Sendable {
    private let sslContext: NIOSSLContext
    private let group: any EventLoopGroup
    private let connectTimeout: Duration
    private let state = Mutex<State>(State())

    private struct State {
        var connections: [Peer: Slot] = [:]
        /// Peers whose last connection said GOAWAY (stopping), until a new connection is made.
        var stopping: Set<Peer> = []
        var shutDown = false
    }

    /// A connection being made, or made; once made, requests take it without awaiting anything.
    private enum Slot {
        case connecting(EventLoopFuture<Connection>)
        case ready(Connection)
    }

    struct Peer: Hashable, Sendable {
        var host: String
        var port: Int
    }

    final class Connection: Sendable {
        let channel: any Channel
        let multiplexer: NIOHTTP2Handler.StreamMultiplexer

        init(channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
            self.channel = channel
            self.multiplexer = multiplexer
        }
    }

    public init(tls: TLSConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, connectTimeout: Duration = .seconds(5)) throws {
        var tls = tls
        tls.applicationProtocols = ["h2"]
        sslContext = try NIOSSLContext(configuration: tls)
        self.group = group
        self.connectTimeout = connectTimeout
    }

    /// Sends one request and returns the whole response.
    public func execute(
        host: String, port: Int, head: HTTPRequest, body: ByteBuffer?, timeout: Duration, maxResponseBytes: Int = 64 << 20
    ) async throws -> HTTP2Response {
        let peer = Peer(host: host, port: port)
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        var attempt = 0
        while true {
            attempt += 1
            let connection = try await self.connection(to: peer)
            do {
                return try await send(head: head, body: body, on: connection, deadline: deadline, timeout: timeout, maxResponseBytes: maxResponseBytes)
            } catch let error as StreamNotOpened {
                // The connection is going away (GOAWAY, closed): drop it and try once on a new one.
                forget(peer, connection)
                if attempt < 2 { continue }
                throw HTTP2ClientError.streamClosed("could not open a stream to \(host):\(port): \(error.underlying)")
            }
        }
    }

    /// One request on one new stream: a single suspension, resumed by the stream's handler.
    private func send(
        head: HTTPRequest, body: ByteBuffer?, on connection: Connection, deadline: NIODeadline, timeout: Duration, maxResponseBytes: Int
    ) async throws -> HTTP2Response {
        let call = PendingCall()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                call.start(continuation)
                connection.channel.eventLoop.execute {
                    connection.multiplexer.createStreamChannel { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandlers([
                                HTTP2FramePayloadToHTTPClientCodec(),
                                ResponseGatherer(
                                    head: head, body: body, call: call, deadline: deadline, timeout: timeout, maxResponseBytes: maxResponseBytes),
                            ])
                        }
                    }.whenFailure { error in
                        call.finish(.failure(StreamNotOpened(underlying: error)))
                    }
                }
            }
        } onCancel: {
            call.cancel()
        }
    }

    /// Closes every connection; later requests fail with ``HTTP2ClientError/shutDown``.
    public func shutdown() async {
        let slots = state.withLock { state in
            state.shutDown = true
            defer { state.connections = [:] }
            return Array(state.connections.values)
        }
        for slot in slots {
            switch slot {
            case .ready(let connection):
                try? await connection.channel.close()
            case .connecting(let future):
                if let connection = try? await future.get() { try? await connection.channel.close() }
            }
        }
    }

    private func connection(to peer: Peer) async throws -> Connection {
        let slot: Slot = try state.withLock { state in
            guard !state.shutDown else { throw HTTP2ClientError.shutDown }
            if let slot = state.connections[peer] { return slot }
            let slot = Slot.connecting(connect(peer))
            state.connections[peer] = slot
            return slot
        }
        switch slot {
        case .ready(let connection):
            // The common case: made already, no suspension.
            return connection
        case .connecting(let future):
            do {
                return try await future.get()
            } catch {
                let stopping = state.withLock { state in
                    if case .connecting(let pending) = state.connections[peer], pending === future { state.connections[peer] = nil }
                    return state.stopping.contains(peer)
                }
                if stopping {
                    throw HTTP2ClientError.connect("\(peer.host):\(peer.port) is stopping (it sent GOAWAY) and takes no new connection: \(error)")
                }
                throw HTTP2ClientError.connect("\(peer.host):\(peer.port): \(error)")
            }
        }
    }

    private func forget(_ peer: Peer, _ connection: Connection) {
        state.withLock { state in
            switch state.connections[peer] {
            case .ready(let current) where current === connection:
                state.connections[peer] = nil
            default:
                break
            }
        }
    }

    private func ready(_ peer: Peer, _ connection: Connection) {
        state.withLock { state in
            if case .connecting = state.connections[peer] { state.connections[peer] = .ready(connection) }
            state.stopping.remove(peer)
        }
    }

    /// The peer sent GOAWAY: calls in flight finish there, new ones go to a new connection.
    private func goingAway(_ peer: Peer, _ connection: Connection) {
        forget(peer, connection)
        state.withLock { _ = $0.stopping.insert(peer) }
    }

    private func connect(_ peer: Peer) -> EventLoopFuture<Connection> {
        let sslContext = self.sslContext
        // SNI carries names only; for an IP address the certificate is checked against the address.
        let serverHostname = peer.host.isIPAddress ? nil : peer.host
        let connectTimeout = TimeAmount(connectTimeout)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                // The ALPN watcher is in place before the connection exists, so no handshake
                // outcome (or early close) can slip past it.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname), FlushCoalescer(),
                        ALPNResult(promise: channel.eventLoop.makePromise(of: String?.self)),
                    ])
                }
            }
        let future: EventLoopFuture<Connection> = bootstrap.connect(host: peer.host, port: peer.port).flatMap { channel -> EventLoopFuture<Connection> in
            let negotiated: EventLoopFuture<String?>
            do {
                negotiated = try channel.pipeline.syncOperations.handler(type: ALPNResult.self).promise.futureResult
            } catch {
                return channel.eventLoop.makeFailedFuture(error) as EventLoopFuture<Connection>
            }
            // A peer that accepts but never finishes the handshake does not hold callers forever.
            let timeout = channel.eventLoop.scheduleTask(in: connectTimeout) {
                channel.close(promise: nil)
            }
            return negotiated.flatMapThrowing { (negotiatedProtocol: String?) throws -> Connection in
                timeout.cancel()
                guard negotiatedProtocol == "h2" else {
                    channel.close(promise: nil)
                    throw HTTP2ClientError.connect("the peer did not agree to HTTP/2 (ALPN: \(negotiatedProtocol ?? "none"))")
                }
                let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: .init(), streamConfiguration: .init(),
                    inboundStreamInitializer: { stream in stream.close() })  // servers do not push to us
                let connection = Connection(channel: channel, multiplexer: multiplexer)
                try channel.pipeline.syncOperations.addHandler(GoAwayWatcher { [weak self] in self?.goingAway(peer, connection) })
                return connection
            }.flatMapErrorThrowing { (error: any Error) throws -> Connection in
                timeout.cancel()
                channel.close(promise: nil)
                throw error
            }
        }
        future.whenSuccess { [weak self] connection in
            self?.ready(peer, connection)
            // A closed connection (peer restarted, GOAWAY) is replaced on the next request.
            connection.channel.closeFuture.whenComplete { [weak self] _ in self?.forget(peer, connection) }
        }
        return future
    }
}

extension String {
    var isIPAddress: Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, self, &v4) == 1 || inet_pton(AF_INET6, self, &v6) == 1
    }
}

/// Tells the client when the peer sends GOAWAY (it is stopping), so no new call is sent there.
final class GoAwayWatcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    private let onGoAway: @Sendable () -> Void

    init(_ onGoAway: @escaping @Sendable () -> Void) {
        self.onGoAway = onGoAway
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { onGoAway() }
        context.fireChannelRead(data)
    }
}

/// Hands on the protocol ALPN chose once the TLS handshake completes.
final class ALPNResult: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<String?>

    init(promise: EventLoopPromise<String?>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiatedProtocol) = event as? TLSUserEvent {
            promise.succeed(negotiatedProtocol)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(HTTP2ClientError.connect("the connection closed during the TLS handshake"))
        context.fireChannelInactive()
    }

    /// A connection that never came up (refused, timed out) still completes the promise.
    func handlerRemoved(context: ChannelHandlerContext) {
        promise.fail(HTTP2ClientError.connect("the connection closed before the TLS handshake"))
    }
}

/// A stream that could not be opened (the connection is closing); the request never left.
struct StreamNotOpened: Error {
    var underlying: any Error
}

/// One request in flight: the awaiting task's continuation, resumed exactly once (by the stream's
/// handler, a failure to open the stream, or the caller's cancellation), and the stream to close
/// when the caller gives up.
final class PendingCall: Sendable {
    private struct State {
        var continuation: CheckedContinuation<HTTP2Response, any Error>?
        var stream: (any Channel)?
        var finished = false
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<HTTP2Response, any Error>) {
        let cancelled = state.withLock { state in
            if state.finished { return true }
            state.continuation = continuation
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
    }

    func attach(_ stream: any Channel) {
        let close = state.withLock { state in
            state.stream = stream
            return state.finished
        }
        if close { stream.close(promise: nil) }
    }

    /// Resumes the caller; later calls do nothing.
    func finish(_ result: Result<HTTP2Response, any Error>) {
        let continuation = state.withLock { state in
            defer { state.continuation = nil }
            state.finished = true
            return state.continuation
        }
        continuation?.resume(with: result)
    }

    func cancel() {
        let stream = state.withLock { $0.stream }
        finish(.failure(CancellationError()))
        stream?.close(promise: nil)
    }
}

/// Writes the request when its stream becomes active and gathers the response for the caller;
/// fails it when the stream closes early, the response is too long or the deadline passes.
final class ResponseGatherer: ChannelInboundHandler {
    typealias InboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPRequestPart

    private let head: HTTPRequest
    private var requestBody: ByteBuffer?
    private let call: PendingCall
    private let deadline: NIODeadline
    private let timeout: Duration
    private let maxResponseBytes: Int
    private var status: Int?
    private var body: ByteBuffer?
    private var done = false
    private var timer: Scheduled<Void>?

    init(
        head: HTTPRequest, body: ByteBuffer?, call: PendingCall, deadline: NIODeadline, timeout: Duration,
        maxResponseBytes: Int
    ) {
        self.head = head
        requestBody = body
        self.call = call
        self.deadline = deadline
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.finish(.failure(HTTP2ClientError.timedOut(handler.timeout)), context: context)
        }
        // A caller that gives up (cancelled) closes the stream.
        call.attach(context.channel)
        if context.channel.isActive { sendRequest(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard !done else { return }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let requestBody, requestBody.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(requestBody)), promise: nil)
        }
        requestBody = nil
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let response):
            // 1xx answers come before the real one.
            if response.status.kind != .informational { status = response.status.code }
        case .body(var chunk):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxResponseBytes {
                finish(.failure(HTTP2ClientError.responseTooLarge(maxResponseBytes)), context: context)
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            if let status {
                finish(.success(HTTP2Response(status: status, body: body ?? context.channel.allocator.buffer(capacity: 0))), context: context)
            } else {
                finish(.failure(HTTP2ClientError.streamClosed("the response had no status")), context: context)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(HTTP2ClientError.streamClosed("the stream closed")), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(HTTP2ClientError.streamClosed("\(error)")), context: context)
    }

    private func finish(_ result: Result<HTTP2Response, any Error>, context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        timer?.cancel()
        call.finish(result)
        if case .failure = result { context.close(promise: nil) }
    }
}
