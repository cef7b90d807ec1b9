import GatewayText
import NIOCore
import NIOHTTP1

/// Serialises the few HTTP/1.1 messages the gateway writes itself. The handshake handlers write
/// bytes directly instead of keeping NIO's encoders in the pipeline, so nothing has to be removed
/// before the relay takes over and nothing is re-encoded per connection.
package enum HTTPWire {
    /// A response head plus optional body, with `Content-Length` when there is a body.
    package static func response(
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

extension HTTPWire {
    /// The upgrade request to a backend: request line, `Host`, then the planned headers (any
    /// `Host` among them replaced). Nil when a header name or value could split the message (CR,
    /// LF, NUL or another control character; a name outside RFC 9110's token characters): the
    /// planner already refuses such claim values, and this keeps the wire safe whatever the source.
    package static func upgradeRequest(_ head: HTTPRequestHead, host: String, allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard isSafeTarget(head.uri), isSafeValue(host) else { return nil }
        var buffer = allocator.buffer(capacity: 256 + head.headers.count * 48)
        buffer.writeString(head.method.rawValue)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(head.uri)
        buffer.writeString(" HTTP/1.1\r\nHost: ")
        buffer.writeString(host)
        buffer.writeString("\r\n")
        for (name, value) in head.headers {
            if name.utf8.count == 4, name.lowercased() == "host" { continue }
            guard isToken(name), isSafeValue(value) else { return nil }
            buffer.writeString(name)
            buffer.writeString(": ")
            buffer.writeString(value)
            buffer.writeString("\r\n")
        }
        buffer.writeString("\r\n")
        return buffer
    }

    /// RFC 9110 §5.6.2 token characters.
    static func isToken(_ text: String) -> Bool { HTTPToken.isValid(text) }

    /// A field value of visible characters, spaces, tabs and non-ASCII bytes (RFC 9110 §5.5).
    static func isSafeValue(_ text: String) -> Bool { HeaderFieldValue.isSafe(text) }

    /// A request target without spaces or controls.
    static func isSafeTarget(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F }
    }

    /// Why a backend's response head could not be read.
    package enum ResponseHeadProblem: Error, Equatable {
        /// Not an HTTP/1.x status line, a malformed header line, or obsolete line folding.
        case malformed(String)
    }

    /// Whether a comma-separated list header (`Connection`, `Upgrade`) has `token` among the
    /// entries of any of its fields, entries trimmed of spaces and tabs and compared ASCII
    /// case-insensitively (RFC 9110 §5.6.1: tokens are ASCII). A scan of the bytes.
    package static func listHeader(_ headers: HTTPHeaders, named name: String, contains token: String) -> Bool {
        for (fieldName, value) in headers where asciiEqualsIgnoringCase(fieldName.utf8, name.utf8) {
            let bytes = value.utf8
            var start = bytes.startIndex
            while true {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
                var low = start
                var high = end
                while low < high, bytes[low] == UInt8(ascii: " ") || bytes[low] == UInt8(ascii: "\t") {
                    low = bytes.index(after: low)
                }
                while low < high {
                    let last = bytes[bytes.index(before: high)]
                    guard last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") else { break }
                    high = bytes.index(before: high)
                }
                if asciiEqualsIgnoringCase(bytes[low..<high], token.utf8) { return true }
                guard end < bytes.endIndex else { break }
                start = bytes.index(after: end)
            }
        }
        return false
    }

    /// Byte-wise equality with ASCII letters folded to lower case (other bytes as they are).
    package static func asciiEqualsIgnoringCase<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool
    where A.Element == UInt8, B.Element == UInt8 {
        guard a.count == b.count else { return false }
        @inline(__always) func lower(_ byte: UInt8) -> UInt8 {
            byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
        }
        return zip(a, b).allSatisfy { lower($0) == lower($1) }
    }

    /// Parses a complete response head (status line and header lines, the blank line excluded).
    /// Lines end in CRLF or a bare LF (RFC 9112 §2.2); header names must be tokens with no space
    /// before the colon (§5.1); obs-fold is refused (§5.2); values lose surrounding whitespace.
    package static func parseResponseHead(_ bytes: ByteBufferView) -> Result<HTTPResponseHead, ResponseHeadProblem> {
        // Split on LF bytes: as Swift Characters, CR LF is one grapheme and never equals "\n".
        var lines: [Substring] = []
        var start = bytes.startIndex
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            var end = index
            if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            lines.append(Substring(String(decoding: bytes[start..<end], as: UTF8.self)))
            start = index + 1
        }
        if start < bytes.endIndex { lines.append(Substring(String(decoding: bytes[start...], as: UTF8.self))) }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let statusLine = lines.first else { return .failure(.malformed("empty response")) }
        // HTTP-version SP status-code SP [reason-phrase]
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "HTTP/1.1" || parts[0] == "HTTP/1.0",
              parts[1].utf8.count == 3, parts[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let code = Int(parts[1]), code >= 100
        else { return .failure(.malformed("not an HTTP/1.x status line")) }
        // RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ). A control byte there
        // (a bare CR, NUL) would travel into the status line the gateway writes for a refused
        // upgrade, so the head is refused instead.
        if parts.count > 2, !isSafeValue(String(parts[2])) {
            return .failure(.malformed("a control character in the reason phrase"))
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            if line.first == " " || line.first == "\t" { return .failure(.malformed("obsolete line folding")) }
            guard let colon = line.firstIndex(of: ":") else { return .failure(.malformed("a header line without a colon")) }
            let name = String(line[..<colon])
            guard isToken(name) else { return .failure(.malformed("an invalid header name")) }
            let value = line[line.index(after: colon)...].trimmingWhitespaceBytes()
            guard isSafeValue(value) else { return .failure(.malformed("a control character in a header value")) }
            headers.add(name: name, value: value)
        }
        let version = parts[0] == "HTTP/1.1" ? HTTPVersion.http1_1 : HTTPVersion.http1_0
        let status = HTTPResponseStatus(statusCode: code, reasonPhrase: parts.count > 2 ? String(parts[2]) : "")
        return .success(HTTPResponseHead(version: version, status: status, headers: headers))
    }
}

extension Substring {
    /// The text without leading and trailing SP and HTAB bytes (RFC 9110 §5.5 OWS). Bytes, not
    /// Characters: a space followed by a combining mark is one Character that is not " ", and the
    /// value then kept its leading space (found by the response-head fuzz target).
    fileprivate func trimmingWhitespaceBytes() -> String {
        var bytes = utf8[...]
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// RFC 9110 §5.6.2 tokens: header names, cookie names. Shared by the wire code and the
/// configuration checks, so a name the configuration accepts is one the gateway can send.
public enum HTTPToken {
    /// Whether `text` is a non-empty token.
    public static func isValid(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}
