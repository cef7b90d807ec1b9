import GatewayHandshake
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Why an upstream could not be used.
enum UpstreamError: Error {
    /// No upstream accepted a connection (502).
    case unavailable(String)
    /// Connect plus handshake exceeded `limits.upstream_timeout` (504).
    case timeout(String)
    /// The backend answered with something other than 101; relayed with its status.
    case refused(HTTPResponseStatus, String)
}

/// A backend connection whose 101 has arrived.
struct UpstreamConnection {
    let channel: Channel
    let head: HTTPResponseHead
    /// The handshake-only handlers to remove when the relay takes over (decoder last).
    let handshakeHandlers: [RemovableChannelHandler]
}

/// Connects to a route's backends on the client channel's own event loop, so both halves of a
/// relayed connection live on one thread and the relay never hops threads or takes locks.
struct UpstreamConnector {
    let eventLoop: EventLoop
    let runtime: GatewayRuntime
    let limits: Limits

    /// Tries the route's upstreams round robin, skipping ones that refuse connections, all within
    /// one `upstream_timeout`. Succeeds with the first backend that answers 101. `route` is the
    /// server's side of `plan.route` (addresses, round robin).
    func connect(_ plan: UpstreamPlan, route: CompiledRoute) -> EventLoopFuture<UpstreamConnection> {
        let promise = eventLoop.makePromise(of: UpstreamConnection.self)
        let order = route.upstreamOrder()
        let deadline = NIODeadline.now() + limits.upstreamTimeout
        let attempts = AttemptState(promise: promise, timeout: limits.upstreamTimeout)
        // A scheduled callback on the attempt state itself: no task, closure or promise of its
        // own, and no future callback to cancel it; `cancelTimer` does, once the outcome is known.
        attempts.timer = try? eventLoop.scheduleCallback(at: deadline, handler: attempts)
        let state = NIOLoopBound(attempts, eventLoop: eventLoop)
        attempt(plan, route: route, order: order[...], deadline: deadline, state: state, lastError: nil, promise: promise)
        return promise.futureResult
    }

    /// One `connect` call's progress: the upstream being tried, and its timeout.
    ///
    /// `@unchecked Sendable` is safe because it is only touched on the connector's event loop
    /// (through `NIOLoopBound`, and by the callback NIO runs on the loop it was scheduled on);
    /// the conformance exists only because `scheduleCallback` asks for a Sendable handler.
    private final class AttemptState: NIOScheduledCallbackHandler, @unchecked Sendable {
        var timedOut = false
        var current: Channel?
        var timer: NIOScheduledCallback?
        private let promise: EventLoopPromise<UpstreamConnection>
        private let timeout: TimeAmount

        init(promise: EventLoopPromise<UpstreamConnection>, timeout: TimeAmount) {
            self.promise = promise
            self.timeout = timeout
        }

        /// The outcome is known (101, refusal, no upstream left): the timeout has nothing to do.
        func cancelTimer() {
            timer?.cancel()
            timer = nil
        }

        func handleScheduledCallback(eventLoop: some EventLoop) {
            timer = nil
            timedOut = true
            current?.close(promise: nil)
            promise.fail(UpstreamError.timeout("no 101 from the backend within \(timeout.nanoseconds / 1_000_000) ms"))
        }
    }

    private func attempt(
        _ plan: UpstreamPlan, route: CompiledRoute, order: ArraySlice<Int>, deadline: NIODeadline, state: NIOLoopBound<AttemptState>,
        lastError: String?, promise: EventLoopPromise<UpstreamConnection>
    ) {
        guard !state.value.timedOut else { return }
        guard let index = order.first else {
            state.value.cancelTimer()
            promise.fail(UpstreamError.unavailable(lastError ?? "no upstream configured"))
            return
        }
        let target = route.route.upstreams[index]
        let head = plan.head(forUpstream: index)
        let hostHeader = (target.secure && target.endpoint.port == 443) || (!target.secure && target.endpoint.port == 80)
            ? target.endpoint.host : target.endpoint.description
        let responsePromise = eventLoop.makePromise(of: HTTPResponseHead.self)
        let handshake = UpstreamHandshakeHandler(request: head, host: hostHeader, maxHeadBytes: limits.maxHeaderBytes, response: responsePromise)
        let remaining = deadline - .now()
        let runtime = self.runtime
        let tls: NIOSSLContext?
        switch route.upstreamTLS[index] {
        case nil:
            tls = nil
        case .success(let context):
            tls = context
        case .failure(let error):
            state.value.cancelTimer()
            promise.fail(UpstreamError.unavailable("TLS setup for \(target.endpoint) failed: \(error)"))
            return
        }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(max(remaining, .milliseconds(1)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Set here, synchronously, rather than through the bootstrap's future chain.
                    try Gateway.setSocketOptions(channel)
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        let handler = try NIOSSLClientHandler(context: tls, serverHostname: UpstreamTLS.sniName(target.endpoint.host))
                        try sync.addHandler(handler)
                    }
                    try sync.addHandler(handshake)
                }
            }
        let connected: EventLoopFuture<Channel>
        if let address = route.upstreamAddresses[index] {
            connected = bootstrap.connect(to: address)
        } else {
            connected = bootstrap.connect(host: target.endpoint.host, port: target.endpoint.port)
        }
        connected.whenComplete { result in
            switch result {
            case .failure(let error):
                // Refused or unreachable: the next upstream may do better.
                self.attempt(plan, route: route, order: order.dropFirst(), deadline: deadline, state: state,
                             lastError: "connect to \(target.endpoint) failed: \(UpstreamConnector.describe(error))", promise: promise)
            case .success(let channel):
                if state.value.timedOut {
                    channel.close(promise: nil)
                    return
                }
                state.value.current = channel
                runtime.upstreamConnections.wrappingIncrement(ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in
                    runtime.upstreamConnections.wrappingDecrement(ordering: .releasing)
                    runtime.connectionEnded()
                }
                responsePromise.futureResult.whenComplete { result in
                    state.value.current = nil
                    switch result {
                    case .success(let response) where response.status == .switchingProtocols:
                        if state.value.timedOut {
                            channel.close(promise: nil)
                        } else {
                            state.value.cancelTimer()
                            promise.succeed(UpstreamConnection(channel: channel, head: response, handshakeHandlers: [handshake]))
                        }
                    case .success(let response):
                        channel.close(promise: nil)
                        state.value.cancelTimer()
                        promise.fail(UpstreamError.refused(response.status, "backend \(target.endpoint) answered \(response.status.code)"))
                    case .failure(let error):
                        channel.close(promise: nil)
                        self.attempt(plan, route: route, order: order.dropFirst(), deadline: deadline, state: state,
                                     lastError: "backend \(target.endpoint) closed during the handshake: \(UpstreamConnector.describe(error))", promise: promise)
                    }
                }
            }
        }
    }

    static func describe(_ error: Error) -> String {
        if let io = error as? IOError { return io.description }
        return String(describing: error)
    }
}

/// Writes the rewritten upgrade request once connected and reads the backend's response head
/// itself, bounded by `limits.max_header_bytes`: one handler instead of NIO's HTTP encoder and
/// decoder, which per connection cost a parser, its buffers and two handler removals. Bytes after
/// a 101's head (frames the backend sent at once) are kept and handed to the relay when this
/// handler leaves the pipeline.
final class UpstreamHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: HTTPRequestHead
    private let host: String
    private let maxHeadBytes: Int
    private let response: EventLoopPromise<HTTPResponseHead>
    private var answered = false
    private var received: ByteBuffer?
    private var leftover: ByteBuffer?

    init(request: HTTPRequestHead, host: String, maxHeadBytes: Int, response: EventLoopPromise<HTTPResponseHead>) {
        self.request = request
        self.host = host
        self.maxHeadBytes = maxHeadBytes
        self.response = response
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let bytes = HTTPWire.upgradeRequest(request, host: host, allocator: context.channel.allocator) else {
            fail(UpstreamError.unavailable("the request for the backend has a header that cannot be sent safely"))
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if answered {
            // After the 101, before the relay takes over: keep the frames for it.
            if leftover == nil { leftover = buffer } else { leftover!.writeBuffer(&buffer) }
            return
        }
        if received == nil { received = buffer } else { received!.writeBuffer(&buffer) }
        while true {
            guard let end = Self.headLength(received!.readableBytesView) else {
                if received!.readableBytes > maxHeadBytes {
                    fail(UpstreamError.unavailable("the backend's response head exceeds \(maxHeadBytes) bytes"))
                    context.close(promise: nil)
                }
                return
            }
            guard end <= maxHeadBytes else {
                fail(UpstreamError.unavailable("the backend's response head exceeds \(maxHeadBytes) bytes"))
                context.close(promise: nil)
                return
            }
            let parsed = HTTPWire.parseResponseHead(received!.readableBytesView.prefix(end))
            received!.moveReaderIndex(forwardBy: end)
            switch parsed {
            case .failure(.malformed(let problem)):
                fail(UpstreamError.unavailable("the backend's response is not valid HTTP/1.1 (\(problem))"))
                context.close(promise: nil)
                return
            case .success(let head) where head.status.code < 200 && head.status != .switchingProtocols:
                // An interim response (100 Continue, 103 Early Hints) precedes the final one
                // (RFC 9110 §15.2): skip it.
                if received!.readableBytes == 0 {
                    received = nil
                    return
                }
            case .success(let head):
                if received!.readableBytes > 0 { leftover = received }
                received = nil
                answered = true
                // Last: the relay may take over (and remove this handler) inside this call.
                response.succeed(head)
                return
            }
        }
    }

    /// The length of the head through its blank line (CRLF CRLF, or bare LFs), or nil when the
    /// blank line has not arrived yet.
    static func headLength(_ bytes: ByteBufferView) -> Int? {
        var index = bytes.startIndex
        var lineStart = true
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                if lineStart { return index - bytes.startIndex + 1 }
                lineStart = true
            } else if byte != UInt8(ascii: "\r") || !lineStart {
                lineStart = false
            }
            index += 1
        }
        return nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(UpstreamError.unavailable("closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(error)
        context.close(promise: nil)
    }

    /// Hands the frames that came with the 101 to the next handler (the relay) while this one is
    /// still linked into the pipeline, then leaves it.
    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        if let leftover, leftover.readableBytes > 0 {
            self.leftover = nil
            context.fireChannelRead(wrapInboundOut(leftover))
        }
        context.leavePipeline(removalToken: removalToken)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(UpstreamError.unavailable("handler removed"))
    }

    private func fail(_ error: Error) {
        guard !answered else { return }
        answered = true
        response.fail(error)
    }
}
