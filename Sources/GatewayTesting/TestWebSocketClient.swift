import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// What a test client observed.
public enum TestClientEvent: Sendable, Equatable {
    /// A frame (payload unmasked).
    case frame(opcode: WebSocketOpcode, fin: Bool, data: [UInt8])
    /// The TCP connection ended.
    case closed
    /// Nothing arrived within `next(timeout:)`'s bound: the test fails instead of hanging.
    case timedOut
}

/// An HTTP answer to a handshake.
public struct TestHandshakeResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: String
}

/// A real WebSocket client over a real socket, for integration tests: it sends exactly the
/// handshake it is told to, frames it is told to (masked, as RFC 6455 §5.3 requires of clients,
/// or raw bytes), and reports every frame and the connection's end in order.
///
/// Used from one test task at a time, so it is not `Sendable`.
public final class TestWebSocketClient {
    private let channel: Channel
    private var iterator: AsyncStream<TestClientEvent>.AsyncIterator
    private let continuation: AsyncStream<TestClientEvent>.Continuation

    init(channel: Channel, events: AsyncStream<TestClientEvent>, continuation: AsyncStream<TestClientEvent>.Continuation) {
        self.channel = channel
        self.iterator = events.makeAsyncIterator()
        self.continuation = continuation
    }

    /// Connects to `127.0.0.1:port`, sends a GET for `path` with the standard upgrade headers plus
    /// `headers`, and returns the response; with a 101, also a connected client.
    public static func connect(
        port: Int, path: String, headers: [(String, String)] = [], host: String = "127.0.0.1",
        upgradeHeaders: Bool = true, earlyBytes: [UInt8] = [], tls: NIOSSLContext? = nil,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> (TestHandshakeResponse, TestWebSocketClient?) {
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        if upgradeHeaders {
            request += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        }
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        return try await connectRaw(port: port, request: Array(request.utf8) + earlyBytes, host: host, tls: tls, group: group)
    }

    /// Like `connect`, with the whole request given as bytes.
    public static func connectRaw(
        port: Int, request: [UInt8], host: String = "127.0.0.1", tls: NIOSSLContext? = nil,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> (TestHandshakeResponse, TestWebSocketClient?) {
        let (stream, continuation) = AsyncStream<TestClientEvent>.makeStream()
        let responsePromise = group.any().makePromise(of: TestHandshakeResponse.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let decoder = ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes))
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: "localhost"))
                    }
                    try channel.pipeline.syncOperations.addHandler(RawWriter())
                    try channel.pipeline.syncOperations.addHandler(RequestHeadObserver())
                    try channel.pipeline.syncOperations.addHandler(decoder)
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPPhaseHandler(decoder: decoder, response: responsePromise, events: continuation)
                    )
                }
            }
            .connect(host: host, port: port)
            .flatMap { channel in
                // The request goes out on the event loop as soon as the connection is up, not
                // after a hop back to the test's task: with the cooperative pool busy (key
                // generation in parallel tests) that hop once took longer than a short
                // handshake timeout, and the write met a closed channel.
                // The response decoder must see a request head; the raw bytes are what goes out.
                // With the upgrade headers, so the decoder stops parsing at a 101 and hands frames over.
                let observed = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Connection": "Upgrade", "Upgrade": "websocket"])
                return channel.writeAndFlush(HTTPClientRequestPart.head(observed)).flatMap {
                    do {
                        let writer = try channel.pipeline.syncOperations.handler(type: RawWriter.self)
                        return writer.write(channel.allocator.buffer(bytes: request))
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }.map { channel }
            }.get()
        let response = try await responsePromise.futureResult.get()
        let client = TestWebSocketClient(channel: channel, events: stream, continuation: continuation)
        if response.status != 101 {
            try? await channel.closeFuture.get()
            return (response, nil)
        }
        return (response, client)
    }

    /// Sends one frame, masked with a random key.
    public func send(_ opcode: WebSocketOpcode, _ data: [UInt8], fin: Bool = true) async throws {
        // WebSocketFrameEncoder masks the payload with maskKey.
        let frame = WebSocketFrame(fin: fin, opcode: opcode, maskKey: .random(), data: channel.allocator.buffer(bytes: data))
        try await channel.writeAndFlush(frame)
    }

    /// Sends a text frame.
    public func send(text: String) async throws {
        try await send(.text, Array(text.utf8))
    }

    /// Sends a close frame with `code` and `reason`.
    public func sendClose(code: UInt16, reason: String = "") async throws {
        try await send(.connectionClose, [UInt8(code >> 8), UInt8(code & 0xff)] + Array(reason.utf8))
    }

    /// Writes raw bytes (already framed, or deliberately broken) to the socket.
    public func sendRaw(_ bytes: [UInt8]) async throws {
        let channel = self.channel
        try await channel.eventLoop.flatSubmit {
            do {
                let writer = try channel.pipeline.syncOperations.handler(type: RawWriter.self)
                return writer.write(channel.allocator.buffer(bytes: bytes))
            } catch {
                // Closed already (the pipeline lost its handlers): an error, not a crash.
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
    }

    /// The next frame or the end of the connection; `.timedOut` when nothing came within
    /// `timeout` (a broken close or expiry then fails its test at once instead of hanging it).
    public func next(timeout: TimeAmount = .seconds(30)) async -> TestClientEvent {
        let continuation = self.continuation
        let bound = channel.eventLoop.scheduleTask(in: timeout) { continuation.yield(.timedOut) }
        defer { bound.cancel() }
        return await iterator.next() ?? .closed
    }

    /// The next data frame's text, skipping nothing; fails the caller's expectation when not text.
    public func nextText() async -> String? {
        if case .frame(.text, _, let data) = await next() { return String(decoding: data, as: UTF8.self) }
        return nil
    }

    /// Closes the TCP connection without a close frame.
    public func abort() async {
        try? await channel.close()
    }

    /// Waits for the TCP connection to end.
    public func waitClosed() async {
        try? await channel.closeFuture.get()
    }
}


/// Reads the handshake response; on 101 swaps itself for the frame codec.
final class HTTPPhaseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let decoder: ByteToMessageHandler<HTTPResponseDecoder>
    private let response: EventLoopPromise<TestHandshakeResponse>
    private let events: AsyncStream<TestClientEvent>.Continuation
    private var head: HTTPResponseHead?
    private var body = ""
    private var done = false

    init(decoder: ByteToMessageHandler<HTTPResponseDecoder>, response: EventLoopPromise<TestHandshakeResponse>, events: AsyncStream<TestClientEvent>.Continuation) {
        self.decoder = decoder
        self.response = response
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            if head.status == .switchingProtocols {
                // Swap codecs once the decoder has returned (it may still emit `.end`).
                context.eventLoop.assumeIsolated().execute { self.upgrade(context: context) }
            }
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            if head?.status != .switchingProtocols { finish(context: context) }
        }
    }

    private func upgrade(context: ChannelHandlerContext) {
            if let head, head.status == .switchingProtocols, !done {
                done = true
                let sync = context.pipeline.syncOperations
                do {
                    try sync.addHandler(WebSocketFrameEncoder(), position: .after(self))
                    try sync.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 64 << 20)), position: .after(self))
                    try sync.addHandler(FrameCollector(events: events), position: .last)
                } catch {
                    response.fail(error)
                    return
                }
                response.succeed(TestHandshakeResponse(status: 101, headers: head.headers, body: ""))
                sync.removeHandler(self, promise: nil)
                if let observer = try? sync.handler(type: RequestHeadObserver.self) {
                    sync.removeHandler(observer, promise: nil)
                }
                sync.removeHandler(decoder, promise: nil)
            }
    }

    /// A connection that never came up (refused, timed out) is closed without `channelInactive`:
    /// the response fails here instead of being dropped unfulfilled, which NIO's debug builds
    /// treat as a leaked promise and crash the whole test process on.
    func handlerRemoved(context: ChannelHandlerContext) {
        if !done {
            done = true
            response.fail(ChannelError.ioOnClosedChannel)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context)
        events.yield(.closed)
        events.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !done {
            done = true
            response.fail(error)
        }
        context.close(promise: nil)
    }

    private func finish(context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        if let head {
            response.succeed(TestHandshakeResponse(status: Int(head.status.code), headers: head.headers, body: body))
        } else {
            response.fail(ChannelError.eof)
        }
    }
}

/// Sits next to the socket so raw bytes can be written past the frame encoder.
final class RawWriter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func write(_ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        guard let context else { return MultiThreadedEventLoopGroup.singleton.any().makeFailedFuture(ChannelError.ioOnClosedChannel) }
        return context.writeAndFlush(wrapOutboundOut(buffer))
    }
}

/// Lets the response decoder observe a request head, then drops it: the request itself is
/// written as raw bytes by `RawWriter`.
final class RequestHeadObserver: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed(())
    }
}

/// Pushes frames and the end of the connection into the client's event stream.
final class FrameCollector: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    private let events: AsyncStream<TestClientEvent>.Continuation

    init(events: AsyncStream<TestClientEvent>.Continuation) {
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        events.yield(.frame(opcode: frame.opcode, fin: frame.fin, data: Array(buffer: frame.unmaskedData)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.yield(.closed)
        events.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
