import Foundation
import GatewayHandshake
import GatewayServer
import GatewayTesting
import NIOCore
import NIOPosix
import Testing

@testable import GatewayServer

/// PROXY protocol v2 headers of any length (TLVs included, bounded by the 16-bit length field),
/// refused at once when they are garbage, whatever the chunking, and never buffered without bound.
@Suite struct ProxyProtocolTests {
    static func parse(_ bytes: [UInt8]) -> ProxyProtocolHeader.Result {
        ProxyProtocolHeader.parse(ByteBuffer(bytes: bytes).readableBytesView)
    }

    /// A v2 PROXY header for TCP over IPv4 from 198.51.100.9:8080 to 10.0.0.1:443, with `tlvs`
    /// after the address block and `length` (default: the true length) in the length field.
    static func v2(tlvs: [UInt8] = [], length: Int? = nil, familyTransport: UInt8 = 0x11, versionCommand: UInt8 = 0x21) -> [UInt8] {
        let address: [UInt8] = [198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x01, 0xbb]
        let announced = length ?? address.count + tlvs.count
        return ProxyProtocolHeader.v2Signature + [versionCommand, familyTransport, UInt8(announced >> 8), UInt8(announced & 0xff)] + address + tlvs
    }

    /// TLVs as AWS and GCP send them (§2.2.7 PP2_TYPE_AUTHORITY, §2.2.3 NOOP padding), `total`
    /// bytes in all.
    static func tlvs(total: Int) -> [UInt8] {
        let authority = Array("ws.example.com".utf8)
        var out: [UInt8] = [0x02, 0, UInt8(authority.count)] + authority
        let padding = total - out.count - 3
        out += [0x04, UInt8(padding >> 8), UInt8(padding & 0xff)] + [UInt8](repeating: 0, count: padding)
        return out
    }

    static let source = try! SocketAddress(ipAddress: "198.51.100.9", port: 8080)

    @Test("a v2 header with 500 bytes of TLVs is parsed, its whole length consumed; and the largest possible one too")
    func longV2HeadersParse() throws {
        let header = Self.v2(tlvs: Self.tlvs(total: 500))
        #expect(header.count == 16 + 12 + 500)
        #expect(Self.parse(header + Array("GET / HTTP/1.1\r\n".utf8)) == .parsed(source: Self.source, length: 528))
        #expect(Self.parse(header.dropLast()) == .needMore)
        let largest = Self.v2(tlvs: Self.tlvs(total: 0xFFFF - 12))
        #expect(largest.count == ProxyProtocolHeader.v2MaximumLength)
        #expect(Self.parse(largest) == .parsed(source: Self.source, length: 16 + 0xFFFF))
    }

    /// Garbage and the exact reason it is refused.
    static let garbage: [(String, [UInt8], String)] = [
        ("not a header", Array("GET / HTTP/1.1\r\n".utf8), "no PROXY protocol header"),
        ("version 1 in a v2 header", v2(versionCommand: 0x11), "PROXY v2 version"),
        ("command 2", v2(versionCommand: 0x22), "PROXY v2 command"),
        ("family 4", v2(familyTransport: 0x41), "PROXY v2 address family"),
        ("transport 3", v2(familyTransport: 0x13), "PROXY v2 address family"),
        ("IPv4 with an 8-byte address block", Array(v2(length: 8).prefix(24)), "PROXY v2 address block too short"),
        ("IPv6 with a 12-byte address block", v2(familyTransport: 0x21), "PROXY v2 address block too short"),
        ("a TLV longer than the header", v2(tlvs: [0x04, 0x00, 0x10, 1, 2]), "PROXY v2 TLV overruns the header"),
        ("two bytes of TLV", v2(tlvs: [0x04, 0x00]), "PROXY v2 TLV truncated"),
        ("the longest header, its TLV overrunning", v2(tlvs: [0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0xFF, count: 0xFFFF - 15)), "PROXY v2 TLV overruns the header"),
        ("a v1 line without its end", Array(("PROXY TCP4 " + String(repeating: "1", count: 200)).utf8), "PROXY v1 line too long"),
    ]

    @Test("garbage is refused with its exact reason")
    func garbageIsRefused() {
        for (name, bytes, reason) in Self.garbage {
            #expect(Self.parse(bytes) == .invalid(reason), "\(name)")
        }
    }

    @Test("whole or fed one byte at a time, every input gets the same verdict, at the same byte")
    func sameVerdictWhateverTheChunking() {
        let request = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        var inputs: [[UInt8]] = Self.garbage.map(\.1)
        inputs.append(Self.v2(tlvs: Self.tlvs(total: 500)) + request)
        inputs.append(Array("PROXY TCP4 203.0.113.7 10.0.0.1 5000 443\r\n".utf8) + request)
        inputs.append(ProxyProtocolHeader.v2Signature + [0x20, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5] + request)  // LOCAL
        for input in inputs {
            let whole = Self.parse(input)
            // Growing prefixes, as a buffering handler sees them: needMore until the verdict.
            var verdict: ProxyProtocolHeader.Result = .needMore
            var decidedAt = 0
            for end in 1...input.count {
                verdict = Self.parse(Array(input[..<end]))
                decidedAt = end
                if verdict != .needMore { break }
            }
            #expect(verdict == whole, "\(input.prefix(16))")
            if case .parsed(_, let length) = whole {
                #expect(decidedAt == length, "a header is parsed exactly when its last byte arrives")
            }
            // And never later than the bound on what a handler may buffer.
            #expect(decidedAt <= ProxyProtocolHeader.maximumLength)
        }
    }

    /// Connects to 127.0.0.1:`port`, writes `bytes` in 16 KiB writes (write errors after the
    /// peer closed are expected and ignored), and waits for the connection to close.
    static func stream(_ bytes: [UInt8], to port: Int) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .connect(host: "127.0.0.1", port: port).get()
        var offset = 0
        while offset < bytes.count, channel.isActive {
            let end = min(bytes.count, offset + 16 << 10)
            try? await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes[offset..<end]))
            offset = end
        }
        try await channel.closeFuture.get()
    }

    @Test("1 MiB of garbage, or a maximal v2 header of garbage TLVs and more: closed at once, long before the handshake timeout",
          arguments: ["plain garbage", "v2 signature, then garbage"])
    func streamingGarbageIsClosedAtOnce(kind: String) async throws {
        var config = try GatewayHarness.configuration(routes: [], limits: Limits(handshakeTimeout: .seconds(60)))
        config.listeners[0].proxyProtocol = true
        var garbage = [UInt8](repeating: 0xFF, count: 1 << 20)
        if kind != "plain garbage" {
            // IPv4, length 0xFFFF: after the address block a TLV announces 0xFFFF bytes.
            garbage.replaceSubrange(0..<28, with: Self.v2(length: 0xFFFF))
        }
        try await GatewayHarness.withGateway(config) { gateway, port in
            let clock = ContinuousClock()
            let started = clock.now
            try await Self.stream(garbage, to: port)
            // The close, not a timer, ended the wait; a handshake timeout would take 60 s.
            #expect(clock.now - started < .seconds(30))
            #expect(gateway.rejectionLog.recent(limit: 1).isEmpty, "garbage before any request is no rejection")
            #expect(await GatewayHarness.settle(gateway))
        }
    }

    @Test("a v2 header with 500 bytes of TLVs, then an upgrade: served, and the backend hears the announced client")
    func v2WithTLVsIsServed() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort), path: "/backend")
            var config = try GatewayHarness.configuration(routes: [
                RouteConfiguration(pattern: .exact("/ws/open"), upstreams: [backend], auth: .none),
            ])
            config.listeners[0].proxyProtocol = true
            try await GatewayHarness.withGateway(config) { gateway, port in
                let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                let header = Self.v2(tlvs: Self.tlvs(total: 500))
                let (served, client) = try await TestWebSocketClient.connectRaw(
                    port: port, request: header + Array("GET /ws/open HTTP/1.1\r\nHost: x\r\n\(upgrade)\r\n".utf8))
                #expect(served.status == 101)
                let connected = try #require(client)
                let greeting = try #require(await connected.nextText())
                #expect(greeting.contains("X-Forwarded-For: 198.51.100.9\n"), "\(greeting)")
                await connected.abort()

                let (refused, _) = try await TestWebSocketClient.connectRaw(
                    port: port, request: header + Array("GET /nowhere HTTP/1.1\r\nHost: x\r\n\(upgrade)\r\n".utf8))
                #expect(refused.status == 404)
                #expect(gateway.rejectionLog.recent(limit: 1).first?.client == "198.51.100.9:8080")
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }
}
