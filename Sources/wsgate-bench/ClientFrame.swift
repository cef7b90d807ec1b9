import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Client-to-server frames: masked with a random key, as RFC 6455 §5.3 requires of clients.
enum ClientFrame {
    /// Binary opcode.
    static let binary: UInt8 = 0x2
    static let text: UInt8 = 0x1
    /// Close opcode.
    static let close: UInt8 = 0x8
    /// Pong opcode.
    static let pong: UInt8 = 0xA

    /// One complete masked frame carrying `size` payload bytes of pattern data. A connection
    /// builds its frame once and resends the same bytes: the wire format is exactly a masked
    /// frame, and the load generator pays for masking once instead of per message.
    static func masked(opcode: UInt8, payloadSize: Int, payload: [UInt8]? = nil, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: payloadSize + 14)
        buffer.writeInteger(0x80 | opcode)
        if payloadSize < 126 {
            buffer.writeInteger(UInt8(0x80 | payloadSize))
        } else if payloadSize <= 0xFFFF {
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(payloadSize))
        } else {
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(payloadSize))
        }
        var mask = [UInt8](repeating: 0, count: 4)
        var generator = SystemRandomNumberGenerator()
        let key = UInt32.random(in: 0...UInt32.max, using: &generator)
        withUnsafeBytes(of: key) { mask = Array($0) }
        buffer.writeBytes(mask)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: payloadSize) { out in
            for index in 0..<payloadSize {
                let plain = payload.map { $0[index] } ?? UInt8(truncatingIfNeeded: index &* 31 &+ 7)
                out[index] = plain ^ mask[index & 3]
            }
            return payloadSize
        }
        return buffer
    }

    /// A masked close frame with code 1000 (RFC 6455 §5.5.1).
    static func close(allocator: ByteBufferAllocator) -> ByteBuffer {
        masked(opcode: close, payloadSize: 2, payload: [0x03, 0xE8], allocator: allocator)
    }
}
