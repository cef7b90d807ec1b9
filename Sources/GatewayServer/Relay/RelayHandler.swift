import GatewayRelay
import NIOCore

/// One half of the relay: passes each inbound `ByteBuffer` of its channel to the partner channel
/// untouched (client frames stay masked, backend frames unmasked, RFC 6455 §5.1 lets an
/// intermediary that does not change payloads keep them so), flushes once per read batch, and
/// stops reading while the partner cannot take more (backpressure from writability). The frame
/// tracker reads only headers. Model: SwiftNIO's connect-proxy `GlueHandler`.
final class RelayHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    // The tracker first and the one-byte fields after it, in its tail padding: the handler then
    // fits glibc's 208-byte chunk (two per relayed connection).
    /// Frames arriving on this handler's channel.
    var tracker: FrameTracker
    let side: RelaySession.Side
    private var pendingRead = false
    private var closing = false
    /// On the client side of a `token_refresh` route: takes refresh messages out of the stream.
    /// Boxed: the interceptor is ≈ 150 bytes that every other relay handler would carry inline.
    var interceptor: InterceptorBox?
    var session: RelaySession?
    var partner: RelayHandler?
    private var context: ChannelHandlerContext?
    /// Bounds a half-closed side's wait for the peer's EOF (`closeAfterPendingWrites`); boxed, as
    /// only a closing connection has one (inline it cost every relay handler 48 bytes).
    private var lingerTimer: LingerTimer?

    init(side: RelaySession.Side, maxFrameBytes: Int, maxMessageBytes: Int) {
        self.side = side
        self.tracker = FrameTracker(maxFrameBytes: maxFrameBytes, maxMessageBytes: maxMessageBytes)
    }

    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard interceptor != nil else {
            relay(buffer)
            return
        }
        // Refresh messages never reach the backend: the tracker and the partner see the rest.
        let output = interceptor!.value.consume(buffer)
        for piece in output.forward { relay(piece) }
        for message in output.messages { session?.refreshReceived(message) }
    }

    /// Tracks and forwards one chunk.
    private func relay(_ buffer: ByteBuffer) {
        guard let session, let partner else { return }
        let event = tracker.consume(buffer)
        if session.terminating {
            if session.owesCloseAfterFrames(from: side) {
                partner.write(buffer)
                session.afterChunk(from: side)
            }
            if case .close = event { session.closeReplied(by: side) }
            return
        }
        switch event {
        case nil, .close:
            if let pong = tracker.consumedPong {
                // A pong answering the gateway's own ping is the gateway's to consume.
                if pong.lowerBound > 0 { partner.write(buffer.getSlice(at: buffer.readerIndex, length: pong.lowerBound)!) }
                let after = buffer.readableBytes - pong.upperBound
                if after > 0 { partner.write(buffer.getSlice(at: buffer.readerIndex + pong.upperBound, length: after)!) }
            } else {
                partner.write(buffer)
            }
        case .frameTooLarge(let start), .messageTooLarge(let start):
            if let start, start > 0 {
                partner.write(buffer.getSlice(at: buffer.readerIndex, length: start)!)
            }
            session.sizeViolation(from: side, otherSideClean: start != nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        lingerTimer?.callback.cancel()
        lingerTimer = nil
        session?.sideInactive(side)
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner?.resumeReading()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Resets and TLS errors end this side; the session tells the other.
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if partner?.isWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    // MARK: Partner API

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func write(_ buffer: ByteBuffer) {
        guard !closing, let context else { return }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    /// Closes this side once everything written so far has reached the socket.
    ///
    /// With `halfClose`, only the output is shut (a FIN after the last frame) and the socket keeps
    /// reading until the peer's close reply and EOF, or `linger`: closing a socket with the peer's
    /// close reply still unread makes the kernel answer with a reset instead (RFC 6455 §7.1.1
    /// wants the TCP close to follow the close handshake cleanly).
    func closeAfterPendingWrites(halfClose: Bool = false, linger: TimeAmount = .seconds(2)) {
        guard !closing, let context else { return }
        closing = true
        let channel = context.channel
        let flushed = context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0)))
        guard halfClose else {
            flushed.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        // A scheduled callback on this handler, cancelled when the channel goes inactive: no task,
        // closure and promise, and no close-future callback to cancel it, per connection.
        lingerTimer = (try? channel.eventLoop.scheduleCallback(in: linger, handler: self)).map(LingerTimer.init)
        flushed.whenComplete { _ in
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
    }
}

/// The handler is its own linger timer.
///
/// `@unchecked Sendable` is safe because the handler is only touched on its channel's event loop:
/// NIO calls channel handlers there and runs the callback on the loop it was scheduled on; the
/// conformance exists only because `scheduleCallback` asks for a Sendable handler.
extension RelayHandler: NIOScheduledCallbackHandler, @unchecked Sendable {
    func handleScheduledCallback(eventLoop: some EventLoop) {
        lingerTimer = nil
        context?.channel.close(promise: nil)
    }
}

/// A relay handler's linger timer, on the heap (see `RelayHandler.lingerTimer`).
final class LingerTimer {
    let callback: NIOScheduledCallback

    init(_ callback: NIOScheduledCallback) {
        self.callback = callback
    }
}

/// A relay handler's refresh interceptor, on the heap (see `RelayHandler.interceptor`).
final class InterceptorBox {
    var value: RefreshInterceptor

    init(_ value: RefreshInterceptor) {
        self.value = value
    }
}
