import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// The demo backend (`wsgate echo-backend`): its first message is the request line and headers it
/// received, so injected claim headers are visible; then `Recv: <message>` for text, the same bytes
/// for binary. The text `nihao` makes it close with 1000 and a reason naming the user, like the
/// PHP server wsgate's design grew from.
public final class EchoBackend: Sendable {
    private let channel: Channel
    private let ownsGroup: Bool
    private let group: EventLoopGroup

    /// The bound address.
    public var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: Channel, group: EventLoopGroup, ownsGroup: Bool) {
        self.channel = channel
        self.group = group
        self.ownsGroup = ownsGroup
    }

    /// Binds and starts serving.
    /// - Parameter tls: serve `wss://` with this context.
    public static func start(
        host: String, port: Int, group: EventLoopGroup? = nil, maxMessageBytes: Int = 16 << 20, tls: NIOSSLContext? = nil
    ) async throws -> EchoBackend {
        let ownsGroup = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: maxMessageBytes,
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, head in
                        channel.eventLoop.makeCompletedFuture {
                            let sync = channel.pipeline.syncOperations
                            try sync.addHandler(NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 100_000, maxAccumulatedFrameSize: maxMessageBytes
                            ))
                            try sync.addHandler(EchoHandler(request: head))
                        }
                    }
                )
                if let tls {
                    do {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                )
            }
            .bind(host: host, port: port).get()
        return EchoBackend(channel: channel, group: group, ownsGroup: ownsGroup)
    }

    /// Waits until the listener closes.
    public func wait() async throws {
        try await channel.closeFuture.get()
    }

    /// Closes the listener (open connections end with the event loops when owned).
    public func shutdown() async throws {
        try? await channel.close()
        if ownsGroup { try await group.shutdownGracefully() }
    }
}

/// Answers one upgraded connection.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let request: HTTPRequestHead
    private var closeSent = false

    init(request: HTTPRequestHead) {
        self.request = request
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        greet(context: context)
    }

    func channelActive(context: ChannelHandlerContext) {
        greet(context: context)
        context.fireChannelActive()
    }

    private var greeted = false

    private func greet(context: ChannelHandlerContext) {
        guard !greeted else { return }
        greeted = true
        var text = "\(request.method.rawValue) \(request.uri) HTTP/\(request.version.major).\(request.version.minor)\n"
        for (name, value) in request.headers {
            text += "\(name): \(value)\n"
        }
        send(.text, context.channel.allocator.buffer(string: text), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let text = String(buffer: frame.unmaskedData)
            if text == "nihao" {
                let user = request.headers.first(name: "x-user-id") ?? "anonymous"
                close(code: .normalClosure, reason: "bye \(user)", context: context)
                return
            }
            send(.text, context.channel.allocator.buffer(string: "Recv: " + text), context: context)
        case .binary:
            send(.binary, frame.unmaskedData, context: context)
        case .ping:
            send(.pong, frame.unmaskedData, context: context)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            close(code: code, reason: nil, context: context)
        default:
            break
        }
    }

    private func send(_ opcode: WebSocketOpcode, _ data: ByteBuffer, context: ChannelHandlerContext) {
        guard !closeSent else { return }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: opcode, data: data)), promise: nil)
    }

    private func close(code: WebSocketErrorCode, reason: String?, context: ChannelHandlerContext) {
        guard !closeSent else { return }
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2 + (reason?.utf8.count ?? 0))
        data.write(webSocketErrorCode: code)
        if let reason { data.writeString(String(decoding: reason.utf8.prefix(123), as: UTF8.self)) }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))).whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Protocol errors (bad frames, oversize messages) end the connection with 1002/1009.
        let code: WebSocketErrorCode = (error as? NIOWebSocketError) == .invalidFrameLength ? .messageTooLarge : .protocolError
        close(code: code, reason: nil, context: context)
    }
}
