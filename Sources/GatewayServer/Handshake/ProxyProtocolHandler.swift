import NIOCore

/// The client address a load balancer announced in a PROXY protocol header.
struct ProxiedSource {
    /// The original client; nil for `LOCAL`/`UNKNOWN` (health checks): use the peer address.
    let address: SocketAddress?
}

/// Parses HAProxy's PROXY protocol header, version 1 (text) or 2 (binary)
/// (haproxy.org/download/2.6/doc/proxy-protocol.txt). Pure: bytes in, result out.
///
/// Every header has a bound, so a caller that buffers until `.parsed` or `.invalid` never holds
/// more than `maximumLength` bytes: a v1 line is at most 107 bytes (§2.1); a v2 header is the
/// 16-byte fixed part plus its 16-bit length field, TLVs included (§2.2), at most 16 + 65535.
/// Only the fixed part and the address block are ever copied, so feeding a header one byte at a
/// time costs no more than feeding it whole.
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
    /// A v1 line is at most 107 bytes including CRLF (§2.1).
    package static let v1MaximumLength = 107
    /// The v2 signature, version/command, family and the 16-bit length (§2.2).
    static let v2FixedLength = 16
    /// The longest v2 header: the length field is 16 bits, so 16 + 65535 bytes.
    static let v2MaximumLength = v2FixedLength + 0xFFFF
    /// No valid header of either version is longer.
    static let maximumLength = max(v1MaximumLength, v2MaximumLength)

    /// Parses the start of a connection's bytes.
    package static func parse(_ bytes: ByteBufferView) -> Result {
        let head = Array(bytes.prefix(v2FixedLength))
        if head.count < 12 {
            let v1Prefix = Array("PROXY ".utf8)
            // "PROXY " then anything: a v1 line can be 7–11 bytes into itself here too.
            let matchesV1 = head.prefix(v1Prefix.count).elementsEqual(v1Prefix.prefix(head.count))
            let matchesV2 = head.elementsEqual(v2Signature.prefix(head.count))
            return matchesV1 || matchesV2 ? .needMore : .invalid("no PROXY protocol header")
        }
        if head.prefix(12).elementsEqual(v2Signature) { return parseV2(bytes, fixed: head) }
        if head.starts(with: Array("PROXY ".utf8)) { return parseV1(Array(bytes.prefix(v1MaximumLength))) }
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

    /// §2.2: version 2; command LOCAL (0) or PROXY (1); family and transport from the defined
    /// values; an address block as long as the family needs; after it, well-formed TLVs
    /// (type, 16-bit length, value) filling the rest exactly. The fixed part is judged as soon
    /// as its 16 bytes are in; the rest once the announced length is.
    private static func parseV2(_ bytes: ByteBufferView, fixed: [UInt8]) -> Result {
        guard fixed.count >= v2FixedLength else {
            // Only the version/command byte can be judged before the fixed part is complete.
            if fixed.count > 12, fixed[12] >> 4 != 2 { return .invalid("PROXY v2 version") }
            return .needMore
        }
        let versionCommand = fixed[12], familyTransport = fixed[13]
        guard versionCommand >> 4 == 2 else { return .invalid("PROXY v2 version") }
        let command = versionCommand & 0x0F
        guard command <= 1 else { return .invalid("PROXY v2 command") }
        guard familyTransport >> 4 <= 3, familyTransport & 0x0F <= 2 else { return .invalid("PROXY v2 address family") }
        let length = Int(fixed[14]) << 8 | Int(fixed[15])
        let total = v2FixedLength + length
        // LOCAL (health checks) and UNSPEC: the receiver ignores the address block (§2.2).
        let addressLength: Int
        switch familyTransport >> 4 {
        case 1: addressLength = 12  // IPv4: two addresses, two ports
        case 2: addressLength = 36  // IPv6
        case 3: addressLength = 216  // UNIX: two 108-byte paths
        default: addressLength = 0
        }
        if command == 1, length < addressLength { return .invalid("PROXY v2 address block too short") }
        guard bytes.count >= total else { return .needMore }
        if command == 0 { return .parsed(source: nil, length: total) }  // LOCAL
        // TLVs follow a known address block and must fill the header exactly. Checked once the
        // whole header is in (at most 64 KiB), in one pass, not again on every read.
        let start = bytes.startIndex
        if addressLength > 0 {
            var offset = v2FixedLength + addressLength
            while offset < total {
                guard total - offset >= 3 else { return .invalid("PROXY v2 TLV truncated") }
                let valueLength = Int(bytes[start + offset + 1]) << 8 | Int(bytes[start + offset + 2])
                offset += 3 + valueLength
                guard offset <= total else { return .invalid("PROXY v2 TLV overruns the header") }
            }
        }
        let body = Array(bytes[(start + v2FixedLength)..<(start + v2FixedLength + min(addressLength, 36))])
        switch familyTransport {
        case 0x11:  // TCP over IPv4
            let ip = body[0..<4].map(String.init).joined(separator: ".")
            let port = Int(body[8]) << 8 | Int(body[9])
            return .parsed(source: try? SocketAddress(ipAddress: ip, port: port), length: total)
        case 0x21:  // TCP over IPv6
            let ip = stride(from: 0, to: 16, by: 2).map { String(UInt16(body[$0]) << 8 | UInt16(body[$0 + 1]), radix: 16) }
                .joined(separator: ":")
            let port = Int(body[32]) << 8 | Int(body[33])
            return .parsed(source: try? SocketAddress(ipAddress: ip, port: port), length: total)
        default:
            return .parsed(source: nil, length: total)  // UNSPEC, UDP or UNIX: keep the peer
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
            // The parser decides within `maximumLength` bytes; this bound only makes the
            // buffer's limit visible here (and holds even if the parser ever did not).
            if buffer.readableBytes >= ProxyProtocolHeader.maximumLength {
                buffered = nil
                context.close(promise: nil)
            }
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
