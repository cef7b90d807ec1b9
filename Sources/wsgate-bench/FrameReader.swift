import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Reads server frames by their headers only: payloads are skipped, never copied, so a 1 MiB
/// message costs the reader nothing but the header (RFC 6455 §5.2).
struct FrameReader {
    /// What a read produced.
    enum Event {
        /// A complete data message (all its fragments), with its payload size.
        case message(opcode: UInt8, bytes: Int)
        /// A close frame.
        case close
        /// A ping frame (answered with an empty pong).
        case ping
    }

    private var stash: ByteBuffer?
    private var inFrame = false
    private var remaining: UInt64 = 0
    private var opcode: UInt8 = 0
    private var messageOpcode: UInt8 = 0
    private var fin = false
    private var messageBytes = 0

    /// Consumes `incoming` and reports each completed message or control frame.
    mutating func consume(_ incoming: inout ByteBuffer, _ handle: (Event) -> Void) {
        if var stashed = stash {
            stash = nil
            stashed.writeBuffer(&incoming)
            process(&stashed, handle)
        } else {
            process(&incoming, handle)
        }
    }

    private mutating func process(_ buffer: inout ByteBuffer, _ handle: (Event) -> Void) {
        while buffer.readableBytes > 0 {
            if inFrame {
                let n = Int(min(UInt64(buffer.readableBytes), remaining))
                buffer.moveReaderIndex(forwardBy: n)
                remaining -= UInt64(n)
                messageBytes += n
                if remaining == 0 { finishFrame(handle) }
                continue
            }
            let start = buffer.readerIndex
            guard buffer.readableBytes >= 2, let b0 = buffer.getInteger(at: start, as: UInt8.self),
                  let b1 = buffer.getInteger(at: start + 1, as: UInt8.self)
            else {
                stash = ByteBuffer(buffer.readableBytesView)
                return
            }
            var length = UInt64(b1 & 0x7F)
            let masked = b1 & 0x80 != 0
            let lengthBytes = length == 126 ? 2 : (length == 127 ? 8 : 0)
            let headerBytes = 2 + lengthBytes + (masked ? 4 : 0)
            guard buffer.readableBytes >= headerBytes else {
                stash = ByteBuffer(buffer.readableBytesView)
                return
            }
            if lengthBytes == 2 {
                length = UInt64(buffer.getInteger(at: start + 2, as: UInt16.self)!)
            } else if lengthBytes == 8 {
                length = buffer.getInteger(at: start + 2, as: UInt64.self)!
            }
            buffer.moveReaderIndex(forwardBy: headerBytes)
            fin = b0 & 0x80 != 0
            opcode = b0 & 0x0F
            if opcode != 0 && opcode < 8 {
                messageOpcode = opcode
                messageBytes = 0
            }
            remaining = length
            inFrame = true
            if remaining == 0 { finishFrame(handle) }
        }
    }

    private mutating func finishFrame(_ handle: (Event) -> Void) {
        inFrame = false
        switch opcode {
        case 0x8: handle(.close)
        case 0x9: handle(.ping)
        case 0xA: break
        default:
            if fin {
                let bytes = messageBytes
                messageBytes = 0
                handle(.message(opcode: messageOpcode, bytes: bytes))
            }
        }
    }
}
