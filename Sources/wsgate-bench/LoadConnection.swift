import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// What a scenario is told about each connection. Called on the connection's event loop.
protocol LoadDriver: AnyObject {
    /// A complete data message arrived (the first one is the backend's greeting).
    func connection(_ connection: LoadConnection, received opcode: UInt8, bytes: Int)
    /// The server answered the upgrade with something other than 101.
    func connection(_ connection: LoadConnection, refused status: Int)
    /// The server sent a close frame.
    func connectionReceivedClose(_ connection: LoadConnection)
    /// The TCP connection ended.
    func connectionClosed(_ connection: LoadConnection)
}

/// One client connection: writes the upgrade request, checks for 101, then reads frames.
///
/// `@unchecked Sendable`: an instance is created for one channel and only ever touched on that
/// channel's event loop (the load generator runs a single loop); the conformance only lets the
/// channel initializer capture it.
final class LoadConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private var request: ByteBuffer?
    private var head: ByteBuffer?
    private var upgraded = false
    private var reader = FrameReader()
    // Strong: the connections keep their driver alive (nothing else holds it while it waits).
    private var driver: (any LoadDriver)?
    private(set) var context: ChannelHandlerContext?
    /// Whether the backend greeting (first data message) has arrived.
    var greeted = false
    /// When the connection attempt started (ns, monotonic).
    var startedAt: UInt64 = 0
    /// When the upgrade request left (ns): at connect for ws://, at the end of the TLS handshake
    /// for wss:// (the TLS handler holds the request until then).
    var requestSentAt: UInt64 = 0
    /// Request → complete 101 head (ns), once the upgrade succeeded.
    var upgradeNanos: UInt64?
    /// Send times of messages in flight (ns), oldest first.
    var inFlight: [UInt64] = []
    /// Index of the oldest entry of `inFlight` still waiting.
    var inFlightHead = 0
    /// The frame this connection sends repeatedly.
    var frame: ByteBuffer?
    /// Whether it is still open.
    private(set) var isOpen = true
    /// Whether this side sent a close frame.
    var closeSent = false
    /// Whether a driver has already counted this connection as opened or failed.
    var settled = false

    init(request: ByteBuffer, driver: any LoadDriver) {
        self.request = request
        self.driver = driver
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendRequest(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard let request else { return }
        self.request = nil
        requestSentAt = nowNanos()
        context.writeAndFlush(NIOAny(request), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            // The request was written at connect and held by the TLS handler until now.
            requestSentAt = nowNanos()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if !upgraded {
            if head == nil {
                head = buffer
            } else {
                head!.writeBuffer(&buffer)
            }
            guard let end = Self.endOfHead(head!) else {
                if head!.readableBytes > 16384 { context.close(promise: nil) }
                return
            }
            let status = Self.status(head!)
            guard status == 101 else {
                driver?.connection(self, refused: status)
                head = nil
                context.close(promise: nil)
                return
            }
            upgraded = true
            upgradeNanos = nowNanos() &- requestSentAt
            head!.moveReaderIndex(forwardBy: end)
            buffer = head!
            head = nil
        }
        reader.consume(&buffer) { event in
            switch event {
            case .message(let opcode, let bytes):
                driver?.connection(self, received: opcode, bytes: bytes)
            case .close:
                driver?.connectionReceivedClose(self)
            case .ping:
                send(ClientFrame.masked(opcode: ClientFrame.pong, payloadSize: 0, allocator: context.channel.allocator))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isOpen = false
        driver?.connectionClosed(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Writes and flushes `buffer`.
    func send(_ buffer: ByteBuffer) {
        guard isOpen, let context else { return }
        context.writeAndFlush(NIOAny(buffer), promise: nil)
    }

    /// Sends a close frame 1000 once; the server is expected to answer and close TCP first
    /// (RFC 6455 §7.1.1). `timeout` closes the socket anyway if it does not.
    func sendClose(timeout: TimeAmount = .seconds(3)) {
        guard isOpen, !closeSent, let context else { return }
        closeSent = true
        context.writeAndFlush(NIOAny(ClientFrame.close(allocator: context.channel.allocator)), promise: nil)
        let channel = context.channel
        channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    /// Closes the socket now.
    func abort() {
        guard isOpen else { return }
        context?.close(promise: nil)
    }

    /// Offset just past the blank line ending the response head, if it is complete.
    private static func endOfHead(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            var index = 3
            while index < bytes.count {
                if bytes[index] == 0x0A && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A && bytes[index - 3] == 0x0D {
                    return index + 1
                }
                index += 1
            }
            return nil
        }
    }

    /// The status code of `HTTP/1.1 NNN …` (0 when unreadable).
    private static func status(_ buffer: ByteBuffer) -> Int {
        guard let line = buffer.getString(at: buffer.readerIndex, length: min(12, buffer.readableBytes)), line.count == 12 else { return 0 }
        return Int(line.dropFirst(9)) ?? 0
    }
}
