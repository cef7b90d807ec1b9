import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Builds the upgrade request of each connection.
struct UpgradeRequests {
    let target: LoadTarget
    let tokens: [String]
    private var next = 0
    private var generator = SystemRandomNumberGenerator()

    init(target: LoadTarget, tokens: [String]) {
        self.target = target
        self.tokens = tokens
    }

    /// The next request: a fresh Sec-WebSocket-Key (RFC 6455 §4.1) and the next token.
    mutating func make(allocator: ByteBufferAllocator) -> ByteBuffer {
        var keyBytes = [UInt8](repeating: 0, count: 16)
        let a = generator.next(), b = generator.next()
        withUnsafeBytes(of: a) { keyBytes.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: b) { keyBytes.replaceSubrange(8..<16, with: $0) }
        var buffer = allocator.buffer(capacity: 320 + (tokens.first?.utf8.count ?? 0))
        buffer.writeString("GET \(target.requestTarget) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ")
        buffer.writeString(Data(keyBytes).base64EncodedString())
        buffer.writeString("\r\nSec-WebSocket-Version: 13\r\n")
        if !tokens.isEmpty {
            buffer.writeString("Authorization: Bearer ")
            buffer.writeString(tokens[next % tokens.count])
            buffer.writeString("\r\n")
            next &+= 1
        }
        buffer.writeString("\r\n")
        return buffer
    }
}
