import NIOCore
import NIOHTTP1

/// Serialises the few HTTP/1.1 messages the gateway writes itself. The handshake handlers write
/// bytes directly instead of keeping NIO's encoders in the pipeline, so nothing has to be removed
/// before the relay takes over and nothing is re-encoded per connection.
enum HTTPWire {
    /// A response head plus optional body, with `Content-Length` when there is a body.
    static func response(
        status: HTTPResponseStatus, headers: HTTPHeaders, body: String?, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 192 + (body?.utf8.count ?? 0) + headers.count * 48)
        buffer.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        for (name, value) in headers {
            buffer.writeString(name)
            buffer.writeString(": ")
            buffer.writeString(value)
            buffer.writeString("\r\n")
        }
        if let body {
            buffer.writeString("Content-Length: \(body.utf8.count)\r\n\r\n")
            buffer.writeString(body)
        } else {
            buffer.writeString("\r\n")
        }
        return buffer
    }
}
