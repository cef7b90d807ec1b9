import GatewayAuth
import NIOCore

/// Frames the gateway writes itself (close, ping), masked when they go to a backend
/// (RFC 6455 §5.3: a client's frames are always masked).
package enum GatewayFrame {
    /// A close frame with `code` and a short UTF-8 `reason` (≤ 123 bytes, RFC 6455 §5.5).
    package static func close(code: UInt16, reason: String, masked: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xff)]
        payload += reason.utf8.prefix(123)
        return frame(opcode: 0x8, payload: payload, masked: masked, allocator: allocator)
    }

    /// The payload of the gateway's keep-alive pings (the client's pong echoes it).
    package static let keepalivePayload: [UInt8] = Array("wsgate-ka".utf8)

    /// An unmasked text frame from the gateway to a client (its own JSON messages).
    package static func text(_ text: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        let payload = Array(text.utf8)
        var buffer = allocator.buffer(capacity: 10 + payload.count)
        buffer.writeInteger(UInt8(0x81))
        if payload.count < 126 {
            buffer.writeInteger(UInt8(payload.count))
        } else {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(payload.count))  // the gateway's messages stay under 64 KiB
        }
        buffer.writeBytes(payload)
        return buffer
    }

    /// A ping frame with `payload` (≤ 125 bytes).
    package static func ping(payload: [UInt8], masked: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        frame(opcode: 0x9, payload: Array(payload.prefix(125)), masked: masked, allocator: allocator)
    }

    private static func frame(opcode: UInt8, payload: [UInt8], masked: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 2 + 4 + payload.count)
        buffer.writeInteger(0x80 | opcode)
        buffer.writeInteger((masked ? 0x80 : 0) | UInt8(payload.count))
        if masked {
            var key: UInt32 = 0
            if !withUnsafeMutableBytes(of: &key, { SecureRandom.fill($0) }) { key = UInt32.random(in: .min ... .max) }
            buffer.writeInteger(key)
            for (i, byte) in payload.enumerated() {
                buffer.writeInteger(byte ^ UInt8(truncatingIfNeeded: key >> UInt32(8 * (3 - i % 4))))
            }
        } else {
            buffer.writeBytes(payload)
        }
        return buffer
    }
}
