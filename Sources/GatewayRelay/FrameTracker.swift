import NIOCore

/// Follows WebSocket frame boundaries in one direction of a relayed connection without touching
/// payloads (RFC 6455 §5.2).
///
/// The relay forwards bytes as they arrive; the tracker only reads each frame header (2–14 bytes,
/// possibly split across reads) so the gateway can enforce size limits, notice close frames, count
/// frames and know when it is between frames and may inject a frame of its own. It never
/// allocates.
package struct FrameTracker {
    /// What the tracker noticed in one chunk.
    package enum Event: Equatable {
        /// A frame header announced more than `maxFrameBytes`. `frameStart` is the offset in the
        /// chunk where that frame's header began, or nil when the header began in an earlier chunk
        /// (the bytes before it may still be forwarded; after it, nothing).
        case frameTooLarge(frameStart: Int?)
        /// A message's fragments add up to more than `maxMessageBytes`.
        case messageTooLarge(frameStart: Int?)
        /// A close frame finished; its status code when it carried one (RFC 6455 §5.5.1).
        case close(code: UInt16?)
    }

    private enum Phase {
        case header
        case payload
    }

    // Stored properties in descending alignment (8-byte words, then the optionals, then the
    // small ones, `maskKey` in the optional range's padding): Swift lays them out in declaration
    // order, and interleaved one-byte fields padded the struct, held twice per relayed
    // connection, from 136 to 173 bytes.

    private let maxFrameBytes: UInt64
    private let maxMessageBytes: UInt64
    /// Header bytes collected so far for the current frame.
    private var headerCount = 0
    private var headerLength = 2
    private var extendedLength: UInt64 = 0
    /// Remaining payload bytes of the current frame.
    private var remaining: UInt64 = 0
    private var payloadOffset: UInt64 = 0
    private var messageBytes: UInt64 = 0
    /// Pongs answering the gateway's own keep-alive pings that are still to come (client side).
    package var pongsExpected = 0
    /// Whole frames seen.
    package private(set) var frames: UInt64 = 0
    /// Bytes seen (headers and payloads).
    package private(set) var bytes: UInt64 = 0

    /// Bytes of this chunk holding a pong that answers a gateway ping: not to be forwarded.
    package private(set) var consumedPong: Range<Int>?
    private var maskKey: UInt32 = 0
    /// Offset in the current chunk where the current header began; nil when in an earlier chunk.
    private var headerStart: Int?

    private var closeCode: UInt16?
    /// The status code of the close frame seen, if any.
    package private(set) var closeStatus: UInt16?
    private var phase = Phase.header
    private var byte0: UInt8 = 0
    private var byte1: UInt8 = 0
    private var isClose = false
    private var closeCodeHigh: UInt8 = 0
    /// The current frame answers a gateway ping and lies wholly in this chunk so far.
    private var currentIsGatewayPong = false
    /// A close frame has been seen in this direction.
    package private(set) var closeSeen = false

    /// Creates a tracker with the given limits.
    package init(maxFrameBytes: Int, maxMessageBytes: Int) {
        self.maxFrameBytes = UInt64(max(0, maxFrameBytes))
        self.maxMessageBytes = UInt64(max(0, maxMessageBytes))
    }

    /// True between frames: a frame of the gateway's own may be sent in this direction now.
    package var isAtFrameBoundary: Bool {
        phase == .header && headerCount == 0
    }

    /// Consumes one chunk. Returns the first event that ends relaying (a size violation), or a
    /// close notification; bytes after a violation are not examined.
    package mutating func consume(_ buffer: ByteBuffer) -> Event? {
        bytes &+= UInt64(buffer.readableBytes)
        headerStart = isAtFrameBoundary ? 0 : nil
        consumedPong = nil
        return buffer.withUnsafeReadableBytes { raw -> Event? in
            var index = 0
            let count = raw.count
            var event: Event?
            while index < count {
                switch phase {
                case .header:
                    let byte = raw[index]
                    if headerCount == 0 { headerStart = index }
                    index += 1
                    if let found = takeHeaderByte(byte) {
                        // A zero-length close completes inside its header: note it and go on,
                        // because the bytes after it in this chunk are forwarded too and must be
                        // measured (an oversize header right behind an empty close must not slip
                        // through, and the next frame boundary must stay right). Only a size
                        // violation stops the examination.
                        guard case .close = found else { return found }
                        event = found
                    }
                    if headerCount == 0, phase == .header { notePong(end: index) }  // empty payload
                case .payload:
                    if isClose, payloadOffset < 2 {
                        // The 2-byte status code, unmasked when the frame is masked (RFC 6455 §5.3).
                        let shift = UInt32(8 * (3 - Int(payloadOffset)))
                        let maskByte = byte1 & 0x80 != 0 ? UInt8(truncatingIfNeeded: maskKey >> shift) : 0
                        let value = raw[index] ^ maskByte
                        if payloadOffset == 0 {
                            closeCodeHigh = value
                        } else {
                            closeCode = UInt16(closeCodeHigh) << 8 | UInt16(value)
                        }
                        index += 1
                        remaining -= 1
                        payloadOffset += 1
                    } else if currentIsGatewayPong {
                        comparePongByte(raw[index])
                        index += 1
                        remaining -= 1
                        payloadOffset += 1
                    } else {
                        let take = min(UInt64(count - index), remaining)
                        index += Int(take)
                        remaining -= take
                        payloadOffset += take
                    }
                    if remaining == 0 {
                        notePong(end: index)
                        if let done = finishFrame() { event = done }
                    }
                }
            }
            return event
        }
    }

    private mutating func takeHeaderByte(_ byte: UInt8) -> Event? {
        switch headerCount {
        case 0:
            byte0 = byte
        case 1:
            byte1 = byte
            let length7 = byte & 0x7f
            headerLength = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + (byte & 0x80 != 0 ? 4 : 0)
            extendedLength = length7 < 126 ? UInt64(length7) : 0
            maskKey = 0
        default:
            let lengthBytes = (byte1 & 0x7f) == 126 ? 2 : (byte1 & 0x7f) == 127 ? 8 : 0
            if headerCount < 2 + lengthBytes {
                extendedLength = extendedLength << 8 | UInt64(byte)
            } else {
                maskKey = maskKey << 8 | UInt32(byte)
            }
        }
        headerCount += 1
        guard headerCount == headerLength else { return nil }
        return beginPayload()
    }

    private mutating func beginPayload() -> Event? {
        let opcode = byte0 & 0x0f
        let length = extendedLength
        // The most significant bit of a 64-bit length must be 0 (RFC 6455 §5.2).
        if length > maxFrameBytes || length >> 63 != 0 {
            return .frameTooLarge(frameStart: headerStart)
        }
        if opcode < 0x8 {  // data frames: text, binary, continuation
            if opcode != 0 { messageBytes = 0 }
            messageBytes &+= length
            if messageBytes > maxMessageBytes { return .messageTooLarge(frameStart: headerStart) }
        }
        isClose = opcode == 0x8
        // RFC 6455 §5.5.3: a pong echoes the ping's payload; ours is `keepalivePayload`. Only a
        // FIN pong without RSV bits (§5.2: no extension is negotiated) of that length is a
        // candidate; its payload is compared byte by byte as it passes (`comparePongByte`).
        currentIsGatewayPong = opcode == 0xA && byte0 & 0xF0 == 0x80 && pongsExpected > 0
            && length == UInt64(GatewayFrame.keepalivePayload.count) && headerStart != nil
        closeCode = nil
        payloadOffset = 0
        remaining = length
        headerCount = 0
        phase = .payload
        if remaining == 0 { return finishFrame() }
        return nil
    }

    /// Drops the gateway-pong candidacy when a payload byte differs from `keepalivePayload`: an
    /// unsolicited pong of the same length is the client's own (RFC 6455 §5.5.3) and is forwarded.
    private mutating func comparePongByte(_ byte: UInt8) {
        let shift = UInt32(8 * (3 - Int(payloadOffset % 4)))
        let maskByte = byte1 & 0x80 != 0 ? UInt8(truncatingIfNeeded: maskKey >> shift) : 0
        if byte ^ maskByte != GatewayFrame.keepalivePayload[Int(payloadOffset)] { currentIsGatewayPong = false }
    }

    /// Records a just-finished pong answering a gateway ping, when it began in this chunk.
    private mutating func notePong(end: Int) {
        guard currentIsGatewayPong, consumedPong == nil, let start = headerStart else { return }
        currentIsGatewayPong = false
        pongsExpected -= 1
        consumedPong = start..<end
    }

    private mutating func finishFrame() -> Event? {
        phase = .header
        headerCount = 0
        frames &+= 1
        guard isClose else { return nil }
        isClose = false
        closeSeen = true
        closeStatus = closeCode
        return .close(code: closeCode)
    }
}
