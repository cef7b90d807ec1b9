import NIOCore

/// The client address a load balancer announced in a PROXY protocol header.
struct ProxiedSource {
    /// The original client; nil for `LOCAL`/`UNKNOWN` (health checks): use the peer address.
    let address: SocketAddress?
}

/// Parses HAProxy's PROXY protocol header, version 1 (text) or 2 (binary)
/// (haproxy.org/download/2.6/doc/proxy-protocol.txt). Pure: bytes in, result out.
package enum ProxyProtocolHeader {
    /// What the bytes so far amount to.
    package enum Result: Equatable {
        /// Not enough bytes yet.
        case needMore
        /// Not a valid header; the connection must be closed.
        case invalid(String)
        /// A header of `length` bytes announcing `source` (nil: use the peer address).
        case parsed(source: SocketAddress?, length: Int)
    }

    /// The 12 bytes every v2 header starts with.
    package static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// A v1 line is at most 107 bytes including CRLF.
    package static let v1MaximumLength = 107

    /// Parses the start of a connection's bytes.
    package static func parse(_ bytes: ByteBufferView) -> Result {
        let data = Array(bytes.prefix(max(v1MaximumLength, 16 + 216)))
        if data.count < 12 {
            let v1Prefix = Array("PROXY ".utf8)
            let matchesV1 = data.elementsEqual(v1Prefix.prefix(data.count))
            let matchesV2 = data.elementsEqual(v2Signature.prefix(data.count))
            return matchesV1 || matchesV2 ? .needMore : .invalid("no PROXY protocol header")
        }
        if Array(data.prefix(12)) == v2Signature { return parseV2(data) }
        if data.starts(with: Array("PROXY ".utf8)) { return parseV1(data) }
        return .invalid("no PROXY protocol header")
    }

    private static func parseV1(_ data: [UInt8]) -> Result {
        guard let lf = data.firstIndex(of: 0x0A) else {
            return data.count >= v1MaximumLength ? .invalid("PROXY v1 line too long") : .needMore
        }
        guard lf > 0, data[lf - 1] == 0x0D, lf < v1MaximumLength else { return .invalid("PROXY v1 line malformed") }
        let line = String(decoding: data[..<(lf - 1)], as: UTF8.self)
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        if parts.count >= 2, parts[1] == "UNKNOWN" { return .parsed(source: nil, length: lf + 1) }
        guard parts.count == 6, parts[1] == "TCP4" || parts[1] == "TCP6",
              let port = Int(parts[4]), (0...65535).contains(port),
              let address = try? SocketAddress(ipAddress: String(parts[2]), port: port)
        else { return .invalid("PROXY v1 line malformed") }
        return .parsed(source: address, length: lf + 1)
    }

    private static func parseV2(_ data: [UInt8]) -> Result {
        guard data.count >= 16 else { return .needMore }
        let versionCommand = data[12]
        guard versionCommand >> 4 == 2 else { return .invalid("PROXY v2 version") }
        let length = Int(data[14]) << 8 | Int(data[15])
        guard data.count >= 16 + length || data.count >= 16 + 216 else { return .needMore }
        guard data.count >= 16 + length else { return .needMore }
        let command = versionCommand & 0x0F
        if command == 0 { return .parsed(source: nil, length: 16 + length) }  // LOCAL
        guard command == 1 else { return .invalid("PROXY v2 command") }
        let body = Array(data[16..<(16 + length)])
        switch data[13] {
        case 0x11 where body.count >= 12:  // TCP over IPv4
            let ip = body[0..<4].map(String.init).joined(separator: ".")
            let port = Int(body[8]) << 8 | Int(body[9])
            return .parsed(source: try? SocketAddress(ipAddress: ip, port: port), length: 16 + length)
        case 0x21 where body.count >= 36:  // TCP over IPv6
            let ip = stride(from: 0, to: 16, by: 2).map { String(UInt16(body[$0]) << 8 | UInt16(body[$0 + 1]), radix: 16) }
                .joined(separator: ":")
            let port = Int(body[32]) << 8 | Int(body[33])
            return .parsed(source: try? SocketAddress(ipAddress: ip, port: port), length: 16 + length)
        default:
            return .parsed(source: nil, length: 16 + length)  // UNSPEC or other families: keep the peer
        }
    }
}

/// First handler on a `proxy_protocol: true` listener: reads the header (within the handshake
/// timeout, like the request head), announces the client address to the handshake handler, passes
/// the remaining bytes on and removes itself. A connection without a valid header is closed.
final class ProxyProtocolHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var buffered: ByteBuffer?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if var existing = buffered {
            existing.writeBuffer(&incoming)
            buffered = existing
        } else {
            buffered = incoming
        }
        guard var buffer = buffered else { return }
        switch ProxyProtocolHeader.parse(buffer.readableBytesView) {
        case .needMore:
            return
        case .invalid:
            buffered = nil
            context.close(promise: nil)
        case .parsed(let source, let length):
            buffered = nil
            buffer.moveReaderIndex(forwardBy: length)
            context.fireUserInboundEventTriggered(ProxiedSource(address: source))
            if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}
