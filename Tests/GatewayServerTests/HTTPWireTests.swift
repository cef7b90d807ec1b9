import NIOCore
import NIOHTTP1
import Testing

@testable import GatewayHandshake
@testable import GatewayServer

/// The upstream side of the handshake without sockets: the request the gateway writes and the
/// response head it reads (its own parser replaced NIO's HTTP codec there).
@Suite struct HTTPWireTests {
    static func view(_ text: String) -> ByteBufferView { ByteBuffer(string: text).readableBytesView }

    @Test func responseHeadWithCRLF() throws {
        let head = try HTTPWire.parseResponseHead(Self.view(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol:  chat \r\n\r\n"
        )).get()
        #expect(head.status == .switchingProtocols)
        #expect(head.version == .http1_1)
        #expect(head.headers.first(name: "connection") == "Upgrade")
        #expect(head.headers.first(name: "sec-websocket-protocol") == "chat")
        #expect(head.headers.count == 3)
    }

    /// Fuzz finding 9: optional white space is trimmed as bytes; a space followed by a combining
    /// mark (one Swift Character) lost nothing before, and the value kept its leading space.
    @Test func whitespaceBeforeACombiningMarkIsTrimmed() throws {
        let head = try HTTPWire.parseResponseHead(Self.view("HTTP/1.1 403 No\r\nX-A: \u{0326}v \r\n\r\n")).get()
        #expect(head.headers.first(name: "x-a").map { Array($0.utf8) } == [0xCC, 0xA6, UInt8(ascii: "v")])
    }

    @Test func responseHeadWithBareLFAndEmptyReason() throws {
        let head = try HTTPWire.parseResponseHead(Self.view("HTTP/1.0 403\nX-A: 1\n\n")).get()
        #expect(head.status.code == 403)
        #expect(head.version == .http1_0)
        #expect(head.headers.first(name: "x-a") == "1")
    }

    @Test(arguments: [
        "HTTP/2 101 Switching Protocols\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 1011 Nope\r\n\r\n",
        "HTTP/1.1 abc Nope\r\n\r\n",
        "HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n",
        "HTTP/1.1 101 OK\r\nUpgrade : websocket\r\n\r\n",
        "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n continued\r\n\r\n",
        "HTTP/1.1 101 OK\r\nX: a\u{1}b\r\n\r\n",
        "\r\n",
        // Fuzz finding 7: a reason phrase with a bare CR or NUL (status codes NIO has no name for
        // keep the backend's phrase, which the gateway would write into its own status line).
        "HTTP/1.1 599 Bad\rX-Injected: 1\r\n\r\n",
        "HTTP/1.1 599 A\u{0}B\r\n\r\n",
    ])
    func malformedResponseHeadsAreRefused(_ text: String) {
        if case .success(let head) = HTTPWire.parseResponseHead(Self.view(text)) {
            Issue.record("accepted \(text.debugDescription) as \(head)")
        }
    }

    @Test func headLengthFindsTheBlankLine() {
        #expect(UpstreamHandshakeHandler.headLength(Self.view("HTTP/1.1 101 X\r\nA: b\r\n\r\n\u{81}\u{0}")) == 24)
        #expect(UpstreamHandshakeHandler.headLength(Self.view("HTTP/1.1 101 X\nA: b\n\nrest")) == 21)
        #expect(UpstreamHandshakeHandler.headLength(Self.view("HTTP/1.1 101 X\r\nA: b\r\n")) == nil)
        #expect(UpstreamHandshakeHandler.headLength(Self.view("HTTP/1.1 101 X\r\nA: b\r\n\r")) == nil)
    }

    @Test func upgradeRequestReplacesHostAndKeepsHeaders() throws {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/backend?room=1")
        head.headers.add(name: "Host", value: "client.example")
        head.headers.add(name: "Upgrade", value: "websocket")
        head.headers.add(name: "X-User-Id", value: "alice")
        let buffer = try #require(HTTPWire.upgradeRequest(head, host: "127.0.0.1:9001", allocator: ByteBufferAllocator()))
        #expect(String(buffer: buffer) == "GET /backend?room=1 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\nX-User-Id: alice\r\n\r\n")
    }

    @Test(arguments: [("X-User-Id", "alice\r\nX-Admin: 1"), ("X-User-Id", "a\u{0}b"), ("Bad Name", "v"), ("", "v")])
    func upgradeRequestRefusesHeadersThatCouldSplitTheMessage(_ name: String, _ value: String) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        head.headers.add(name: name, value: value)
        #expect(HTTPWire.upgradeRequest(head, host: "backend", allocator: ByteBufferAllocator()) == nil)
    }

    @Test func upgradeRequestRefusesATargetWithSpaces() {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/a b")
        #expect(HTTPWire.upgradeRequest(head, host: "backend", allocator: ByteBufferAllocator()) == nil)
    }

    /// `Connection` / `Upgrade` list entries, as the handshake checks them (a byte scan since the
    /// list was no longer split into strings): every field of the name, entries trimmed of
    /// spaces and tabs, ASCII case folded, and nothing else counts.
    @Test(arguments: [
        (["websocket"], true), (["WebSocket"], true), (["WEBSOCKET"], true), (["h2c, websocket"], true),
        (["websocket, h2c"], true), ([" \twebsocket\t "], true), (["a,,websocket,"], true), ([",websocket"], true),
        (["h2c", "websocket"], true), (["websocket", "h2c"], true),
        (["websockets"], false), (["websocke"], false), (["xwebsocket"], false), (["web socket"], false),
        (["websocket;q=1"], false), (["\"websocket\""], false), ([""], false), ([","], false), ([], false),
        (["websoc\u{212A}et"], false), (["h2c"], false), (["websocket\u{0}"], false),
    ] as [([String], Bool)])
    func listHeaderEntries(values: [String], expected: Bool) {
        var headers = HTTPHeaders([("Host", "x")])
        for value in values { headers.add(name: "Upgrade", value: value) }
        #expect(HTTPWire.listHeader(headers, named: "upgrade", contains: "websocket") == expected)
        // The name matches in any case; another name does not.
        var renamed = HTTPHeaders()
        for value in values { renamed.add(name: "UPGRADE", value: value) }
        #expect(HTTPWire.listHeader(renamed, named: "upgrade", contains: "websocket") == expected)
        var other = HTTPHeaders()
        for value in values { other.add(name: "Upgrades", value: value) }
        #expect(!HTTPWire.listHeader(other, named: "upgrade", contains: "websocket"))
    }
}
