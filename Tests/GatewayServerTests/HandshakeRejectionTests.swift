import Foundation
import GatewayAuth
import GatewayHandshake
import GatewayServer
import GatewayTesting
import NIOCore
import NIOPosix
import Testing

/// Every row of PRODUCT.md's pipeline table, through a real gateway on loopback.
@Suite struct HandshakeRejectionTests {
    static let upgrade: [(String, String)] = []

    /// One rejection scenario: what to send, what must come back.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var path = "/ws/chat"
        var headers: [(String, String)] = []
        var upgradeHeaders = true
        var rawRequest: String?
        var status: Int
        var reason: String
        var testDescription: String { name }
    }

    static func cases() throws -> [Case] {
        let valid = try GatewayHarness.token()
        let expired = try GatewayHarness.token(ttl: -120)
        let otherSecret = try GatewayHarness.token(secret: Array("another-secret-that-is-long-enough!!".utf8))
        let unknownKid = try GatewayHarness.token(kid: "nope")
        let guest = try GatewayHarness.token(["role": .string("guest")])
        return [
            Case(name: "unknown path", path: "/nope", status: 404, reason: "route_not_found"),
            Case(name: "prefix does not match a longer word", path: "/ws/roomsX", status: 404, reason: "route_not_found"),
            // RFC 3986 §5.2.4 dot segments and ambiguous escapes: 400 bad_path before route lookup.
            Case(name: "encoded slash", path: "/ws/rooms/..%2Fchat", status: 400, reason: "bad_path"),
            Case(name: "encoded slash, lower case", path: "/ws/rooms/..%2fchat", status: 400, reason: "bad_path"),
            Case(name: "encoded backslash", path: "/ws/rooms/..%5Cchat", status: 400, reason: "bad_path"),
            Case(name: "encoded NUL", path: "/ws/rooms/%00", status: 400, reason: "bad_path"),
            Case(name: "above the root", path: "/ws/rooms/../../..", status: 400, reason: "bad_path"),
            Case(name: "bad path on no route", path: "/nope/%2F", status: 400, reason: "bad_path"),
            // Resolved onto /ws/chat, whose policy (a token) applies.
            Case(name: "dot dot onto another route", path: "/ws/rooms/../chat", status: 401, reason: "token_missing"),
            Case(name: "encoded dot dot onto another route", path: "/ws/rooms/%2E%2E/chat", status: 401, reason: "token_missing"),
            Case(name: "POST", rawRequest: "POST /ws/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", status: 405, reason: "method_not_allowed"),
            Case(name: "not an upgrade", upgradeHeaders: false, status: 400, reason: "bad_handshake"),
            Case(name: "bad key", rawRequest: "GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n", status: 400, reason: "bad_handshake"),
            Case(name: "version 8", rawRequest: "GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", status: 426, reason: "unsupported_version"),
            Case(name: "origin", path: "/ws/origin", headers: [("Origin", "https://evil.example")], status: 403, reason: "origin_forbidden"),
            Case(name: "no token", status: 401, reason: "token_missing"),
            Case(name: "garbage token", headers: [("Authorization", "Bearer abc.def")], status: 401, reason: "token_malformed"),
            Case(name: "two tokens", path: "/ws/chat?access_token=\(expired)", headers: [("Authorization", "Bearer \(valid)")], status: 401, reason: "token_conflict"),
            Case(name: "wrong key", headers: [("Authorization", "Bearer \(otherSecret)")], status: 401, reason: "signature_invalid"),
            Case(name: "unknown kid", headers: [("Authorization", "Bearer \(unknownKid)")], status: 401, reason: "unknown_key"),
            Case(name: "expired", headers: [("Authorization", "Bearer \(expired)")], status: 401, reason: "token_expired"),
            Case(name: "claim forbidden", path: "/ws/admin", headers: [("Authorization", "Bearer \(guest)")], status: 403, reason: "claim_forbidden"),
            Case(name: "backend down", path: "/ws/down", headers: [("Authorization", "Bearer \(valid)")], status: 502, reason: "upstream_unavailable"),
            Case(name: "header overflow", headers: [("X-Big", String(repeating: "a", count: 20_000))], status: 431, reason: "headers_too_large"),
        ]
    }

    static func routes(backendPort: Int, downPort: Int) -> [RouteConfiguration] {
        let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort), path: "/")
        return [
            RouteConfiguration(pattern: .exact("/ws/chat"), upstreams: [backend]),
            // No token needed below /ws/rooms: a dot segment must not carry that policy onto /ws/chat.
            RouteConfiguration(pattern: .prefix("/ws/rooms"), upstreams: [backend], auth: .none),
            RouteConfiguration(pattern: .exact("/ws/origin"), upstreams: [backend], auth: .none, allowedOrigins: ["https://app.example"]),
            RouteConfiguration(pattern: .exact("/ws/admin"), upstreams: [backend],
                               requirements: ClaimRequirements(claims: [ClaimRequirement(path: "role", allowed: [.string("admin")])])),
            RouteConfiguration(pattern: .exact("/ws/down"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: downPort))]),
        ]
    }

    @Test(arguments: try cases())
    func rejection(_ scenario: Case) async throws {
        let down = try RefusingPort()
        let downPort = down.port
        defer { withExtendedLifetime(down) {} }
        try await GatewayHarness.withEchoBackend { backendPort in
            let config = try GatewayHarness.configuration(routes: Self.routes(backendPort: backendPort, downPort: downPort))
            try await GatewayHarness.withGateway(config) { gateway, port in
                let response: TestHandshakeResponse
                if let raw = scenario.rawRequest {
                    response = try await TestWebSocketClient.connectRaw(port: port, request: Array(raw.utf8)).0
                } else {
                    response = try await TestWebSocketClient.connect(
                        port: port, path: scenario.path, headers: scenario.headers, upgradeHeaders: scenario.upgradeHeaders
                    ).0
                }
                #expect(response.status == scenario.status)
                #expect(response.body == "{\"status\":\(scenario.status),\"reason\":\"\(scenario.reason)\"}")
                let challenge = response.headers.first(name: "WWW-Authenticate")
                if scenario.status == 401 {
                    #expect(challenge?.hasPrefix("Bearer") == true)
                    #expect((challenge?.contains("invalid_token") ?? false) == (scenario.reason != "token_missing"))
                }
                if scenario.reason == "claim_forbidden" { #expect(challenge?.contains("insufficient_scope") == true) }
                if scenario.status == 426 { #expect(response.headers.first(name: "Sec-WebSocket-Version") == "13") }
                let recent = gateway.rejectionLog.recent(limit: 10)
                #expect(recent.last?.reason == scenario.reason)
                #expect(recent.last?.status == scenario.status)
                // The log line never holds a token or a query string.
                let line = recent.last?.jsonLine() ?? ""
                #expect(!line.contains("eyJ"))
                #expect(recent.last?.path?.contains("?") != true)
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func upstreamRefusalIsRelayedWithItsStatus() async throws {
        // A real HTTP server that is not a WebSocket backend: the gateway's own admin listener.
        let adminProbe = try GatewayHarness.configuration(routes: [])
        var adminConfig = adminProbe
        adminConfig.admin = AdminConfiguration(endpoint: SocketEndpoint(host: "127.0.0.1", port: 0))
        adminConfig.routes = [RouteConfiguration(pattern: .exact("/x"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: 1))])]
        try await GatewayHarness.withGateway(adminConfig) { adminGateway, _ in
            let adminPort = adminGateway.adminAddress!.port!
            let config = try GatewayHarness.configuration(routes: [
                RouteConfiguration(pattern: .exact("/ws"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: adminPort), path: "/no-such")], auth: .none)
            ])
            try await GatewayHarness.withGateway(config) { gateway, port in
                let (response, _) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                #expect(response.status == 404)
                #expect(response.body == #"{"status":404,"reason":"upstream_refused"}"#)
                #expect(gateway.rejectionLog.recent(limit: 1).first?.reason == "upstream_refused")
            }
        }
    }

    @Test func silentUpstreamTimesOut() async throws {
        // A listener that accepts and never answers.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let config = try GatewayHarness.configuration(
            routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: silent.localAddress!.port!))], auth: .none)],
            limits: Limits(upstreamTimeout: .milliseconds(300))
        )
        try await GatewayHarness.withGateway(config) { gateway, port in
            let (response, _) = try await TestWebSocketClient.connect(port: port, path: "/ws")
            #expect(response.status == 504)
            #expect(response.body == #"{"status":504,"reason":"upstream_timeout"}"#)
            #expect(await GatewayHarness.settle(gateway))
        }
    }

    @Test func slowlorisGets408WhileOthersAreServed() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            let config = try GatewayHarness.configuration(
                routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort))], auth: .none)],
                // Long enough that a test process starved for a moment still writes its partial
                // head before the gateway gives up (the write would then fail, not the check).
                limits: Limits(handshakeTimeout: .milliseconds(1000))
            )
            try await GatewayHarness.withGateway(config) { gateway, port in
                async let slow = TestWebSocketClient.connectRaw(port: port, request: Array("GET /ws HTTP/1.1\r\nHost: x\r\n".utf8))
                let (ok, client) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                #expect(ok.status == 101)
                #expect(await client?.nextText()?.hasPrefix("GET / HTTP/1.1") == true)
                await client?.abort()
                let (late, _) = try await slow
                #expect(late.status == 408)
                #expect(late.body == #"{"status":408,"reason":"handshake_timeout"}"#)
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func rateLimitAndConnectionCap() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort))
            let config = try GatewayHarness.configuration(
                routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [backend], auth: .none, maxConnections: 1)],
                limits: Limits(maxHandshakesPerIPPerSecond: 1000)
            )
            try await GatewayHarness.withGateway(config) { gateway, port in
                let (first, client) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                #expect(first.status == 101)
                let (second, _) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                #expect(second.status == 503)
                #expect(second.body == #"{"status":503,"reason":"connection_limit"}"#)
                await client?.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
            var limited = try GatewayHarness.configuration(routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [backend], auth: .none)])
            limited.limits.maxHandshakesPerIPPerSecond = 2
            try await GatewayHarness.withGateway(limited) { gateway, port in
                var statuses: [Int] = []
                for _ in 0..<6 {
                    let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                    statuses.append(response.status)
                    if response.status == 429 { #expect(response.headers.first(name: "Retry-After") != nil) }
                    await client?.abort()
                }
                #expect(statuses.contains(429))
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }
}

extension HandshakeRejectionTests {
    @Test func perSubjectCap() async throws {
        let alice = try GatewayHarness.token()
        let bob = try GatewayHarness.token(["sub": .string("bob")])
        try await GatewayHarness.withEchoBackend { backendPort in
            let config = try GatewayHarness.configuration(
                routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort))])],
                limits: Limits(maxConnectionsPerSubject: 1)
            )
            try await GatewayHarness.withGateway(config) { gateway, port in
                let (first, client) = try await TestWebSocketClient.connect(port: port, path: "/ws", headers: [("Authorization", "Bearer \(alice)")])
                #expect(first.status == 101)
                let (second, _) = try await TestWebSocketClient.connect(port: port, path: "/ws", headers: [("Authorization", "Bearer \(alice)")])
                #expect(second.status == 503)
                #expect(gateway.rejectionLog.recent(limit: 1).first?.sub == "alice")
                let (other, otherClient) = try await TestWebSocketClient.connect(port: port, path: "/ws", headers: [("Authorization", "Bearer \(bob)")])
                #expect(other.status == 101)
                await client?.abort()
                await otherClient?.abort()
                #expect(await GatewayHarness.settle(gateway))
                // The slot came back when alice's connection closed.
                let (again, againClient) = try await TestWebSocketClient.connect(port: port, path: "/ws", headers: [("Authorization", "Bearer \(alice)")])
                #expect(again.status == 101)
                await againClient?.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }
}

/// A loopback port that refuses connections for as long as this value lives: a socket bound to it
/// without `listen`, so connecting gets a reset (ECONNREFUSED) and no test running in parallel can
/// bind the same port meanwhile (binding, closing and reusing a number raced with them: a "backend
/// down" case once met another test's listener and got 404 instead of 502).
final class RefusingPort {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Bool in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw TestFailure("bind: \(errno)")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// The log line's time and quoting.
@Suite struct RejectionRecordTests {
    @Test func millisecondsAreExact() {
        #expect(RejectionRecord.timestamp(Date(timeIntervalSince1970: 1.017)) == "1970-01-01T00:00:01.017Z")
        #expect(RejectionRecord.timestamp(Date(timeIntervalSince1970: 1_795_628_411.999)) == "2026-11-25T17:40:11.999Z")
    }

    @Test func linesStayOneLineAndValidJSON() throws {
        let record = RejectionRecord(time: "t", status: 401, reason: "token_malformed", detail: "a\"b\\c\nd\u{2028}e\u{1}")
        let line = record.jsonLine()
        #expect(!line.contains("\n"))
        let decoded = try JSONDecoder().decode(RejectionRecord.self, from: Data(line.utf8))
        #expect(decoded == record)
    }
}

/// The test client itself: a connection that never comes up is an error the test sees.
@Suite struct TestClientTests {
    /// Before the fix the response promise was dropped unfulfilled and NIO's debug build crashed the
    /// whole test process ("leaking promise created at TestWebSocketClient.swift:63"): any test
    /// whose connect was refused (a drain's closed listener reached late on a loaded machine) took
    /// every other test down with it.
    @Test func aRefusedConnectThrowsConnectionRefused() async throws {
        let refusing = try RefusingPort()
        do {
            _ = try await TestWebSocketClient.connect(port: refusing.port, path: "/", headers: [])
            Issue.record("connected to a port that refuses")
        } catch let error as NIOConnectionError {
            #expect(error.connectionErrors.map { ($0.error as? IOError)?.errnoCode } == [ECONNREFUSED])
        }
    }
}
