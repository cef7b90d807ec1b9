import GatewayHandshake
import Testing

@testable import GatewayServer

/// Route matching: exact beats prefix, longest prefix wins, no partial-word matches.
@Suite struct RouteTableTests {
    @Test func longestMatchWins() {
        let target = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: 1))
        let table = RouteTable(routes: [
            RouteConfiguration(pattern: .prefix("/ws"), upstreams: [target]),
            RouteConfiguration(pattern: .prefix("/ws/rooms"), upstreams: [target]),
            RouteConfiguration(pattern: .exact("/ws/rooms/lobby"), upstreams: [target]),
        ])
        #expect(table.matchIndex(path: "/ws/rooms/lobby") == 2)
        #expect(table.matchIndex(path: "/ws/rooms/7") == 1)
        #expect(table.matchIndex(path: "/ws/rooms") == 1)
        #expect(table.matchIndex(path: "/ws/roomsX") == 0)
        #expect(table.matchIndex(path: "/ws") == 0)
        #expect(table.matchIndex(path: "/wsX") == nil)
        #expect(table.matchIndex(path: "/") == nil)
    }

    @Test func upstreamURLsParse() {
        #expect(UpstreamTarget(url: "ws://127.0.0.1:9001/chat")?.endpoint == SocketEndpoint(host: "127.0.0.1", port: 9001))
        #expect(UpstreamTarget(url: "wss://example.com")?.endpoint.port == 443)
        #expect(UpstreamTarget(url: "ws://[::1]:80/x")?.endpoint.host == "::1")
        #expect(UpstreamTarget(url: "http://x") == nil)
        #expect(UpstreamTarget(url: "ws://user@x/") == nil)
        #expect(UpstreamTarget(url: "ws://x:99999/") == nil)
    }

    @Test func cidrBlocks() {
        let block = CIDRBlock("10.1.0.0/16")!
        #expect(block.contains([10, 1, 200, 3]))
        #expect(!block.contains([10, 2, 0, 1]))
        #expect(CIDRBlock("::1/128")!.contains(CIDRBlock.addressBytes("::1")!))
        #expect(CIDRBlock("10.0.0.0/33") == nil)
    }
}
