import Foundation
import GatewayAuth
import GatewayHandshake
import GatewayServer
import GatewayTesting
import NIOCore
import Testing

@testable import GatewayServer

/// Where the client address comes from at the edge: PROXY protocol and trusted proxies.
@Suite struct EdgeTests {
    static let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

    @Test func proxyProtocolV1AndV2NameTheClient() async throws {
        var config = try GatewayHarness.configuration(routes: [])
        config.listeners[0].proxyProtocol = true
        try await GatewayHarness.withGateway(config) { gateway, port in
            let request = Array("GET /nowhere HTTP/1.1\r\nHost: x\r\n\(Self.upgrade)\r\n".utf8)
            let v1 = Array("PROXY TCP4 203.0.113.7 10.0.0.1 5000 443\r\n".utf8)
            let (first, _) = try await TestWebSocketClient.connectRaw(port: port, request: v1 + request)
            #expect(first.status == 404)
            #expect(gateway.rejectionLog.recent(limit: 1).first?.client == "203.0.113.7:5000")

            var v2 = ProxyProtocolHeader.v2Signature + [0x21, 0x11, 0x00, 12]
            v2 += [198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x01, 0xbb]  // 198.51.100.9:8080 → 10.0.0.1:443
            let (second, _) = try await TestWebSocketClient.connectRaw(port: port, request: v2 + request)
            #expect(second.status == 404)
            #expect(gateway.rejectionLog.recent(limit: 1).first?.client == "198.51.100.9:8080")
            #expect(await GatewayHarness.settle(gateway))
        }
    }

    @Test func forwardedForCountsOnlyFromTrustedProxies() async throws {
        let request = Array("GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6, 198.51.100.9\r\n\(Self.upgrade)\r\n".utf8)
        let untrusted = try GatewayHarness.configuration(routes: [])
        try await GatewayHarness.withGateway(untrusted) { gateway, port in
            _ = try await TestWebSocketClient.connectRaw(port: port, request: request)
            #expect(gateway.rejectionLog.recent(limit: 1).first?.client?.hasPrefix("127.0.0.1:") == true)
        }
        var trusted = try GatewayHarness.configuration(routes: [])
        trusted.trustedProxies = [CIDRBlock("127.0.0.0/8")!]
        try await GatewayHarness.withGateway(trusted) { gateway, port in
            _ = try await TestWebSocketClient.connectRaw(port: port, request: request)
            #expect(gateway.rejectionLog.recent(limit: 1).first?.client == "198.51.100.9")
        }
    }

    @Test func proxyHeaderParser() throws {
        func parse(_ bytes: [UInt8]) -> ProxyProtocolHeader.Result {
            ProxyProtocolHeader.parse(ByteBuffer(bytes: bytes).readableBytesView)
        }
        #expect(parse(Array("PROX".utf8)) == .needMore)
        #expect(parse(Array("GET / HTTP/1.1\r\n".utf8)) == .invalid("no PROXY protocol header"))
        #expect(parse(Array("PROXY UNKNOWN\r\nGET".utf8)) == .parsed(source: nil, length: 15))
        #expect(parse(Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".utf8)) == .parsed(source: try SocketAddress(ipAddress: "1.2.3.4", port: 1), length: 32))
        #expect(parse(Array("PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n".utf8)) == .invalid("PROXY v1 line malformed"))
        #expect(parse(Array(("PROXY " + String(repeating: "x", count: 120)).utf8)) == .invalid("PROXY v1 line too long"))
        #expect(parse(ProxyProtocolHeader.v2Signature + [0x20, 0x00, 0x00, 0x00]) == .parsed(source: nil, length: 16))
        #expect(parse(ProxyProtocolHeader.v2Signature + [0x21, 0x11, 0x00, 12, 1, 2]) == .needMore)
    }
}
