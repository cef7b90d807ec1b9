#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GatewayAuth
import GatewayDemo
import GatewayHandshake
@testable import GatewayServer
import GatewayTesting
import NIOCore
import NIOPosix
import NIOWebSocket
import Testing

/// Accepted connections end to end: token sources, injected headers, and the frame relay.
@Suite struct RelayTests {
    static func chatConfig(backendPort: Int, limits: Limits = Limits()) throws -> GatewayConfiguration {
        let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort), path: "/backend")
        return try GatewayHarness.configuration(routes: [
            RouteConfiguration(pattern: .exact("/ws/chat"), upstreams: [backend],
                               claimsToHeaders: [ClaimHeader(claim: "sub", header: "X-User-Id"), ClaimHeader(claim: "org.id", header: "X-Org-Id")]),
            RouteConfiguration(pattern: .prefix("/ws/rooms"), upstreams: [backend], auth: .optional),
        ], limits: limits)
    }

    /// Connects with `headers`, expects 101, and returns the client and the backend's greeting.
    static func open(port: Int, path: String = "/ws/chat", headers: [(String, String)]) async throws -> (TestWebSocketClient, TestHandshakeResponse, String) {
        let (response, client) = try await TestWebSocketClient.connect(port: port, path: path, headers: headers)
        #expect(response.status == 101, "body: \(response.body)")
        let client2 = try #require(client)
        let greeting = try #require(await client2.nextText())
        return (client2, response, greeting)
    }

    @Test func headerTokenInjectsClaimsAndStripsSpoofs() async throws {
        let token = try GatewayHarness.token(["org": .object(["id": .integer(42)])])
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                let (client, response, greeting) = try await Self.open(port: port, headers: [
                    ("Authorization", "Bearer \(token)"), ("X-User-Id", "mallory"), ("X-JWT-Claims", "forged"),
                    ("X-Forwarded-For", "6.6.6.6"),
                ])
                #expect(response.headers.first(name: "Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                #expect(greeting.hasPrefix("GET /backend HTTP/1.1\n"))
                #expect(greeting.contains("X-User-Id: alice\n"))
                #expect(greeting.contains("X-Org-Id: 42\n"))
                #expect(!greeting.contains("mallory"))
                #expect(!greeting.contains("forged"))
                #expect(!greeting.contains("6.6.6.6"))
                #expect(greeting.contains("X-Forwarded-For: 127.0.0.1\n"))
                #expect(!greeting.contains(token))
                #expect(!greeting.lowercased().contains("authorization"))

                try await client.send(text: "hello")
                #expect(await client.nextText() == "Recv: hello")
                let blob = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
                try await client.send(.binary, blob)
                #expect(await client.next() == .frame(opcode: .binary, fin: true, data: blob))
                // A fragmented message is reassembled by the backend and echoed whole.
                try await client.send(.text, Array("frag".utf8), fin: false)
                try await client.send(.continuation, Array("ment".utf8), fin: true)
                #expect(await client.nextText() == "Recv: fragment")
                try await client.send(.ping, Array("p1".utf8))
                #expect(await client.next() == .frame(opcode: .pong, fin: true, data: Array("p1".utf8)))
                try await client.sendClose(code: 1000, reason: "done")
                #expect(await client.next() == .frame(opcode: .connectionClose, fin: true, data: [0x03, 0xe8]))
                #expect(await client.next() == .closed)
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func queryCookieAndSubprotocolTokensNeverReachTheBackend() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                let (c1, _, viaQuery) = try await Self.open(port: port, path: "/ws/chat?room=7&access_token=\(token)", headers: [])
                #expect(viaQuery.hasPrefix("GET /backend?room=7 HTTP/1.1\n"))
                #expect(!viaQuery.contains(token))
                await c1.abort()

                let (c2, _, viaCookie) = try await Self.open(port: port, headers: [("Cookie", "theme=dark; wsgate_token=\(token)")])
                #expect(viaCookie.contains("Cookie: theme=dark\n"))
                #expect(!viaCookie.contains(token))
                await c2.abort()

                let (c3, response, viaProtocol) = try await Self.open(port: port, headers: [("Sec-WebSocket-Protocol", "bearer, \(token)")])
                #expect(response.headers.first(name: "Sec-WebSocket-Protocol") == "bearer")
                #expect(!viaProtocol.contains(token))
                #expect(!viaProtocol.lowercased().contains("sec-websocket-protocol"))
                await c3.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func prefixRouteMapsTheRemainderAndOptionalAuthAllowsNoToken() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                let (client, _, greeting) = try await Self.open(port: port, path: "/ws/rooms/42", headers: [])
                #expect(greeting.hasPrefix("GET /backend/42 HTTP/1.1\n"))
                await client.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func earlyFramesAreHeldNotDropped() async throws {
        let token = try GatewayHarness.token()
        // A masked text frame "early", sent in the same write as the request head.
        let key: [UInt8] = [1, 2, 3, 4]
        let payload = Array("early".utf8).enumerated().map { $0.element ^ key[$0.offset % 4] }
        let frame: [UInt8] = [0x81, 0x80 | 5] + key + payload
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                let (response, client) = try await TestWebSocketClient.connect(
                    port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")], earlyBytes: frame
                )
                #expect(response.status == 101)
                let client2 = try #require(client)
                _ = await client2.nextText()  // greeting
                let event = await client2.next()
                #expect(event == .frame(opcode: .text, fin: true, data: Array("Recv: early".utf8)), "\(event)")
                await client2.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func backendCloseAndNihao() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                let (client, _, _) = try await Self.open(port: port, headers: [("Authorization", "Bearer \(token)")])
                try await client.send(text: "nihao")
                #expect(await client.next() == .frame(opcode: .connectionClose, fin: true, data: [0x03, 0xe8] + Array("bye alice".utf8)))
                #expect(await client.next() == .closed)
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    /// A client that reads the gateway's close frame and its FIN but neither answers nor closes
    /// its socket is let go 2 s after the half-close (the linger bound), not held until the idle
    /// timeout. A raw socket: NIO's client would close on the FIN.
    @Test func clientThatNeverClosesIsLetGoAfterTheLinger() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                defer { Glibc.close(fd) }
                var timeout = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                #expect(connected == 0)
                func send(_ bytes: [UInt8]) { #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count) }
                /// Reads until `done` holds for what was read, or EOF (then `eof` is true).
                func read(until done: ([UInt8]) -> Bool) -> (bytes: [UInt8], eof: Bool) {
                    var bytes: [UInt8] = []
                    var chunk = [UInt8](repeating: 0, count: 4096)
                    while !done(bytes) {
                        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                        if n <= 0 { return (bytes, n == 0) }
                        bytes += chunk[..<n]
                    }
                    return (bytes, false)
                }
                send(Array(("GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(token)\r\n\r\n").utf8))
                let head = read { $0.count >= 12 }
                #expect(String(decoding: head.bytes.prefix(12), as: UTF8.self) == "HTTP/1.1 101")
                // "nihao", masked with the zero key: the echo backend answers with close 1000 "bye alice".
                send([0x81, 0x85, 0, 0, 0, 0] + Array("nihao".utf8))
                let close: [UInt8] = [0x88, 11, 0x03, 0xe8] + Array("bye alice".utf8)
                let rest = read { _ in false }
                #expect(rest.eof, "the gateway half-closes after its close frame")
                #expect((head.bytes + rest.bytes).suffix(close.count).elementsEqual(close))
                // Never answered, never closed: the gateway lets go after the linger bound.
                let clock = ContinuousClock()
                let start = clock.now
                #expect(await gateway.waitUntilIdle(timeout: .seconds(8)))
                let waited = clock.now - start
                #expect(waited > .milliseconds(1500) && waited < .seconds(5), "let go after \(waited)")
            }
        }
    }

    /// The client socket reads up to twice per readiness event while its request head arrives
    /// (a head with a token does not fit the first 512 B buffer) and once per event after the
    /// upgrade, so NIO's pool keeps one receive buffer per idle connection: read back from the
    /// relayed session's client channel, for a head of ≈ 1 KiB that needs the second read.
    @Test func afterTheUpgradeTheClientReadsOncePerEventIntoA512ByteBuffer() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                let padding = String(repeating: "p", count: 700)
                let (client, _, greeting) = try await Self.open(port: port, headers: [
                    ("Authorization", "Bearer \(token)"), ("X-Padding", padding),
                ])
                #expect(greeting.contains("X-Padding: \(padding)\n"))
                let session = try #require(gateway.runtime.registry.all.first)
                let reads = try await session.clientChannel.getOption(ChannelOptions.maxMessagesPerRead).get()
                #expect(reads == 1)
                // The head filled the first 512 B buffer, so the allocator had grown to 1 KiB; the
                // relay starts from 512 B again (the pooled buffer kept by an idle connection).
                let allocator = try await session.clientChannel.getOption(ChannelOptions.recvAllocator).get()
                #expect(allocator.nextBufferSize() == 512)
                await client.abort()
            }
        }
    }

    @Test func backendKilledMidStreamGives1011() async throws {
        let token = try GatewayHarness.token()
        // A backend with its own event loop: shutting it down drops its sockets without close frames.
        let backend = try await EchoBackend.start(host: "127.0.0.1", port: 0)
        try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backend.localAddress!.port!)) { gateway, port in
            let (client, _, _) = try await Self.open(port: port, headers: [("Authorization", "Bearer \(token)")])
            try await backend.shutdown()
            #expect(await client.next() == .frame(opcode: .connectionClose, fin: true, data: [0x03, 0xf3] + Array("upstream closed".utf8)))
            #expect(await client.next() == .closed)
            #expect(await GatewayHarness.settle(gateway))
        }
    }

    @Test func clientVanishingReleasesEverything() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                for _ in 0..<5 {
                    let (client, _, _) = try await Self.open(port: port, headers: [("Authorization", "Bearer \(token)")])
                    await client.abort()
                }
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    /// `waitUntilIdle` (what `settle` and the drain use) is woken by the last close: it does not
    /// report idle while a relayed connection is open, and does once the client has gone.
    @Test func idleWaitIsWokenByTheLastClose() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                #expect(await gateway.waitUntilIdle(timeout: .milliseconds(50)))
                let (client, _, _) = try await Self.open(port: port, headers: [("Authorization", "Bearer \(token)")])
                #expect(await gateway.waitUntilIdle(timeout: .milliseconds(200)) == false, "idle with a connection open")
                #expect(gateway.relayedConnections == 1)
                let clock = ContinuousClock()
                let start = clock.now
                async let idle = gateway.waitUntilIdle(timeout: .seconds(10))
                await client.abort()
                #expect(await idle)
                // Woken by the close, not by the end of the bound.
                #expect(clock.now - start < .seconds(5))
                #expect(gateway.openClientConnections == 0 && gateway.openUpstreamConnections == 0 && gateway.relayedConnections == 0)
            }
        }
    }

    @Test func oversizeFrameGets1009() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            let config = try Self.chatConfig(backendPort: backendPort, limits: Limits(maxFrameBytes: 1024))
            try await GatewayHarness.withGateway(config) { gateway, port in
                let (client, _, _) = try await Self.open(port: port, headers: [("Authorization", "Bearer \(token)")])
                try await client.send(text: "small")
                #expect(await client.nextText() == "Recv: small")
                try await client.send(.binary, [UInt8](repeating: 7, count: 2000))
                guard case .frame(.connectionClose, _, let data) = await client.next() else {
                    Issue.record("expected a close frame")
                    return
                }
                #expect(Array(data.prefix(2)) == [0x03, 0xf1])
                #expect(await client.next() == .closed)
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test("an empty close and an 8 MiB frame header in one write: 1009 to the client, not the backend's close reply")
    func oversizeHeaderBehindAnEmptyCloseGets1009() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            let config = try Self.chatConfig(backendPort: backendPort, limits: Limits(maxFrameBytes: 1024))
            try await GatewayHarness.withGateway(config) { gateway, port in
                let (client, _, _) = try await Self.open(port: port, headers: [("Authorization", "Bearer \(token)")])
                // Masked empty close (RFC 6455 §5.5.1), then a masked binary header announcing
                // 8 MiB with a 64-bit length (§5.2), both in a single TCP write.
                let emptyClose: [UInt8] = [0x88, 0x80, 1, 2, 3, 4]
                let hugeHeader: [UInt8] = [0x82, 0xFF, 0, 0, 0, 0, 0, 0x80, 0, 0, 5, 6, 7, 8]
                try await client.sendRaw(emptyClose + hugeHeader)
                guard case .frame(.connectionClose, _, let data) = await client.next() else {
                    Issue.record("expected a close frame")
                    return
                }
                #expect(Array(data) == [0x03, 0xf1] + Array("message too big".utf8))
                #expect(await client.next() == .closed)
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func tokenExpiryClosesWith4001() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backendPort)) { gateway, port in
                // exp is whole seconds: a token with three seconds left closes within about four.
                let token = try GatewayHarness.token(ttl: 3)
                let (client, _, _) = try await Self.open(port: port, headers: [("Authorization", "Bearer \(token)")])
                let started = ContinuousClock.now
                #expect(await client.next() == .frame(opcode: .connectionClose, fin: true, data: [0x0f, 0xa1] + Array("token expired".utf8)))
                #expect(ContinuousClock.now - started < .seconds(6))
                try? await client.sendClose(code: 4001)
                #expect(await client.next() == .closed)
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func forwardTokenSendsTheVerifiedTokenAsBearerOnly() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort))
            let config = try GatewayHarness.configuration(routes: [
                RouteConfiguration(pattern: .exact("/ws"), upstreams: [backend], forwardToken: true)
            ])
            try await GatewayHarness.withGateway(config) { gateway, port in
                let (client, _, greeting) = try await Self.open(port: port, path: "/ws?access_token=\(token)&x=1", headers: [])
                #expect(greeting.hasPrefix("GET /?x=1 HTTP/1.1\n"))
                #expect(greeting.contains("Authorization: Bearer \(token)\n"))
                await client.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func drainSends1001() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            var logger = Logger(label: "t")
            logger.logLevel = .critical
            let gateway = try await Gateway.start(configuration: try Self.chatConfig(backendPort: backendPort), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
            let port = gateway.listeningAddresses[0].port!
            let (client, _, _) = try await Self.open(port: port, headers: [("Authorization", "Bearer \(token)")])
            async let drained: Void = gateway.shutdown(drainTimeout: .seconds(5))
            #expect(await client.next() == .frame(opcode: .connectionClose, fin: true, data: [0x03, 0xe9] + Array("going away".utf8)))
            try? await client.sendClose(code: 1001)
            #expect(await client.next() == .closed)
            try await drained
            #expect(gateway.relayedConnections == 0)
        }
    }
}

import Logging

/// Keep-alive: the gateway pings a silent client and consumes the pong; idle connections end.
@Suite struct KeepaliveTests {
    @Test func gatewayPingsAreAnsweredAndThePongIsNotForwarded() async throws {
        let token = try GatewayHarness.token()
        // A backend that says so whenever a pong reaches it.
        let backend = try await PongReportingBackend.start()
        defer { backend.close(promise: nil) }
        // Three unanswered pings end a connection; at 200 ms that left the test 600 ms to answer
        // the first, which a cooperative pool busy with parallel tests' key generation once
        // exceeded ("connection ended early": the 1001 ping-timeout close). At 1 s it has 3 s.
        let config = try RelayTests.chatConfig(backendPort: backend.localAddress!.port!, limits: Limits(keepaliveInterval: .seconds(1)))
        try await GatewayHarness.withGateway(config) { gateway, port in
            let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
            #expect(response.status == 101)
            let ws = try #require(client)
            #expect(await ws.next() == .frame(opcode: .ping, fin: true, data: Array("wsgate-ka".utf8)))
            // Same length as the gateway's payload, other bytes, while the ping is outstanding
            // (RFC 6455 §5.5.3 allows an unsolicited pong): the client's own, forwarded.
            try await ws.send(.pong, Array("wsgate-kb".utf8))
            try await ws.send(.pong, Array("wsgate-ka".utf8))
            // The client's own unsolicited pong (another payload) is not the gateway's: it passes.
            try await ws.send(.pong, Array("mine".utf8))
            try await ws.send(text: "after pongs")
            var seen: [String] = []
            while seen.last != "Recv: after pongs" {
                switch await ws.next() {
                case .frame(.text, _, let data): seen.append(String(decoding: data, as: UTF8.self))
                case .frame(.ping, _, _): try await ws.send(.pong, Array("wsgate-ka".utf8))
                default: Issue.record("connection ended early: \(seen)"); return
                }
            }
            #expect(seen == ["backend saw pong: wsgate-kb", "backend saw pong: mine", "Recv: after pongs"])
            await ws.abort()
            #expect(await GatewayHarness.settle(gateway))
        }
    }

    @Test func idleConnectionsAreClosed() async throws {
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            let config = try RelayTests.chatConfig(backendPort: backendPort, limits: Limits(idleTimeout: .milliseconds(300)))
            try await GatewayHarness.withGateway(config) { gateway, port in
                let (client, _, _) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(token)")])
                #expect(await client.next() == .frame(opcode: .connectionClose, fin: true, data: [0x03, 0xe9] + Array("idle timeout".utf8)))
                try? await client.sendClose(code: 1001)
                #expect(await client.next() == .closed)
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }
}

/// A minimal backend for the keep-alive test: answers `Recv: <text>` and reports every pong it
/// receives as `backend saw pong: <payload>`.
enum PongReportingBackend {
    static func start() async throws -> Channel {
        try await startWebSocketBackend { Handler() }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            let text: String
            switch frame.opcode {
            case .pong: text = "backend saw pong: " + String(buffer: frame.unmaskedData)
            case .text: text = "Recv: " + String(buffer: frame.unmaskedData)
            default: return
            }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: context.channel.allocator.buffer(string: text))), promise: nil)
        }
    }
}

import NIOHTTP1
import NIOConcurrencyHelpers

/// A WebSocket backend on loopback (NIO's server upgrader, any path, any headers): each upgraded
/// connection gets a fresh `handler()`; `accepted` sees every accepted connection first.
func startWebSocketBackend(
    accepted: @escaping @Sendable (Channel) -> Void = { _ in }, handler: @escaping @Sendable () -> ChannelHandler
) async throws -> Channel {
    try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            accepted(channel)
            let upgrader = NIOWebSocketServerUpgrader(
                shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler()) }
                }
            )
            return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        }
        .bind(host: "127.0.0.1", port: 0).get()
}

/// A backend that records every frame it receives (opcode and unmasked payload), answers a close
/// with a close and then closes; `frames` yields the recording once its connection has ended.
final class FrameRecordingBackend: Sendable {
    let channel: Channel
    private let recorded = NIOLockedValueBox<[(WebSocketOpcode, [UInt8])]>([])
    private let ended: AsyncStream<Void>
    private let endedContinuation: AsyncStream<Void>.Continuation

    init() async throws {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        ended = stream
        endedContinuation = continuation
        let recorded = self.recorded
        channel = try await startWebSocketBackend(
            accepted: { $0.closeFuture.whenComplete { _ in continuation.yield() } },
            handler: { Recorder(recorded: recorded) }
        )
    }

    /// The frames received, after the backend's connection has closed.
    func framesAfterClose() async -> [(WebSocketOpcode, [UInt8])] {
        var iterator = ended.makeAsyncIterator()
        _ = await iterator.next()
        return recorded.withLockedValue { $0 }
    }

    func stop() async {
        try? await channel.close()
        endedContinuation.finish()
    }

    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let recorded: NIOLockedValueBox<[(WebSocketOpcode, [UInt8])]>
        init(recorded: NIOLockedValueBox<[(WebSocketOpcode, [UInt8])]>) { self.recorded = recorded }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            recorded.withLockedValue { $0.append((frame.opcode, Array(buffer: frame.unmaskedData))) }
            if frame.opcode == .connectionClose {
                let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: context.channel.allocator.buffer(bytes: [0x03, 0xE8]))
                context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in context.close(promise: nil) }
            }
        }
    }
}

extension RelayTests {
    /// A revocation while the client is mid-frame owes the backend a close until the frame ends.
    /// When the client's next write ends that frame and carries the client's own close, the
    /// backend must get exactly one close frame, the client's (RFC 6455 §5.5.1); the gateway's
    /// owed one used to follow it.
    @Test func theClientsOwnCloseRightAfterTheAwaitedBoundaryVoidsTheOwedClose() async throws {
        let token = try GatewayHarness.token()
        let backend = try await FrameRecordingBackend()
        try await GatewayHarness.withGateway(try Self.chatConfig(backendPort: backend.channel.localAddress!.port!)) { gateway, port in
            let (response, connected) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
            #expect(response.status == 101)
            let client = try #require(connected)
            // A masked binary frame of 10 bytes: header and mask key, then 4 of its 10 bytes.
            let mask: [UInt8] = [1, 2, 3, 4]
            let payload: [UInt8] = Array(0..<10)
            let masked = payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
            try await client.sendRaw([0x82, 0x8A] + mask + masked.prefix(4))
            let session = try #require(gateway.runtime.registry.all.first)
            // Wait (bounded) until the gateway has read the partial frame: mid-frame toward the backend.
            let deadline = ContinuousClock.now + .seconds(10)
            while try await session.eventLoop.submit({ session.clientRelay.tracker.isAtFrameBoundary }).get(), ContinuousClock.now < deadline {
                // A short pause, not Task.yield(): spinning would hold a cooperative thread that
                // other tests running in parallel need.
                try await Task.sleep(for: .milliseconds(5))
            }
            session.revoke(reason: "gone")
            #expect(await client.next() == .frame(opcode: .connectionClose, fin: true, data: [0x0F, 0xA3] + Array("gone".utf8)))
            // The rest of the frame and the client's own close (4003 "bye"), in one write.
            let closePayload: [UInt8] = [0x0F, 0xA3] + Array("bye".utf8)
            let maskedClose = closePayload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
            try await client.sendRaw(Array(masked.suffix(6)) + [0x88, 0x80 | UInt8(closePayload.count)] + mask + maskedClose)
            let frames = await backend.framesAfterClose()
            #expect(frames.map(\.0) == [.binary, .connectionClose])
            #expect(frames.first?.1 == payload)
            #expect(frames.last?.1 == closePayload)
            await client.abort()
            #expect(await GatewayHarness.settle(gateway))
        }
        await backend.stop()
    }
}

/// A session's optional deadlines are one word each; every value, and none, comes back as it went in.
@Suite struct PackedDeadlineTests {
    @Test func valuesAndNoneRoundTrip() {
        var packed = PackedDeadline()
        #expect(packed.wrappedValue == nil)
        let now = NIODeadline.now()
        for deadline in [now, now + .seconds(30), .uptimeNanoseconds(0), .uptimeNanoseconds(1), .distantFuture, .distantPast] {
            packed.wrappedValue = deadline
            #expect(packed.wrappedValue == deadline)
        }
        packed.wrappedValue = nil
        #expect(packed.wrappedValue == nil)
        // The largest value NIO makes (it clamps to Int64.max) is a deadline, not "none".
        packed.wrappedValue = .uptimeNanoseconds(.max)
        #expect(packed.wrappedValue == .distantFuture)
    }
}
