import Foundation
import GatewayAuth
@testable import GatewayHandshake
import GatewayTesting
import NIOHTTP1
import Testing

@testable import GatewayServer

/// Pieces of the pure handshake pipeline tested without sockets.
@Suite struct HandshakePlannerTests {
    @Test func generatedRequestIDsAre128RandomBitsInHex() {
        let ids = (0..<64).map { _ in HandshakePlanner.requestID(from: HTTPHeaders()) }
        for id in ids {
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(id)")
        }
        #expect(Set(ids).count == ids.count)
        // Every nibble value appears somewhere (the hex digits are not stuck).
        #expect(Set(ids.joined()).count == 16)
    }

    @Test func aPlainClientRequestIDIsKeptAndOthersReplaced() {
        #expect(HandshakePlanner.requestID(from: ["X-Request-Id": "abc-123"]) == "abc-123")
        let quoted = HandshakePlanner.requestID(from: ["X-Request-Id": "a\"b"])
        #expect(quoted != "a\"b" && quoted.utf8.count == 32)
        let long = String(repeating: "x", count: 129)
        #expect(HandshakePlanner.requestID(from: ["X-Request-Id": long]) != long)
    }

    // MARK: - Token carriers and paths (issue 10 findings 1 and 2)

    static let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: 9), path: "/up")

    /// A planner over `/ws/chat` (token required), `/ws/rooms/*` (optional) and `/ws/fwd`
    /// (`forward_token: true`), with every token source of the harness (`/ws/rooms/*`: the header only).
    static func planner() throws -> HandshakePlanner {
        let config = try GatewayHarness.configuration(routes: [
            RouteConfiguration(pattern: .exact("/ws/chat"), upstreams: [backend]),
            RouteConfiguration(pattern: .prefix("/ws/rooms"), upstreams: [backend], auth: .optional, tokenSources: [.header]),
            RouteConfiguration(pattern: .exact("/ws/fwd"), upstreams: [backend], forwardToken: true),
        ])
        return HandshakePlanner(rules: HandshakeRules(configuration: config))
    }

    static func decide(_ uri: String, _ extra: [(String, String)] = []) throws -> HandshakeDecision {
        var headers: HTTPHeaders = [
            "Host": "gw", "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
        ]
        headers.add(contentsOf: extra)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)
        let client = ClientFacts(address: "127.0.0.1:1", ip: "127.0.0.1", clientIP: "127.0.0.1", peerIsTrustedProxy: false, secure: false)
        return try planner().decide(head: head, client: client, now: Date().timeIntervalSince1970) { _ in nil }
    }

    static func reason(_ decision: HandshakeDecision) -> String {
        switch decision {
        case .reject(let rejection, _): rejection.reason
        case .forward: "forward"
        }
    }

    /// A second token spelled so that some backend reads it is a conflict.
    @Test(arguments: [
        ("/ws/chat", ("Cookie", "a=b;\twsgate_token=EVIL")),
        ("/ws/chat", ("Cookie", "wsgate_token =EVIL")),
        ("/ws/chat", ("Cookie", "a=b wsgate_token=EVIL")),
        ("/ws/chat", ("Cookie", "a=b,wsgate_token=EVIL")),
        ("/ws/chat", ("Cookie", "WSGATE%5FTOKEN=EVIL")),
        ("/ws/chat?x=1;access_token=EVIL", ("X-Other", "1")),
        ("/ws/chat?access%5Ftoken=EVIL", ("X-Other", "1")),
        ("/ws/chat?ACCESS_TOKEN=EVIL", ("X-Other", "1")),
        ("/ws/chat?access_token+=EVIL", ("X-Other", "1")),
    ])
    func aSecondTokenInAnySpellingIsAConflict(uri: String, extra: (String, String)) throws {
        let token = try GatewayHarness.token()
        let decision = try Self.decide(uri, [("Authorization", "Bearer \(token)"), extra])
        #expect(Self.reason(decision) == "token_conflict")
    }

    /// The same token in a second spelling is no conflict, and neither spelling is forwarded.
    @Test func theSameTokenTwiceIsForwardedWithoutEither() throws {
        let token = try GatewayHarness.token()
        let decision = try Self.decide("/ws/chat?x=1;access_token=\(token)&y=2", [
            ("Authorization", "Bearer \(token)"), ("Cookie", "a=b;\twsgate_token=\"\(token)\"; c=d"),
        ])
        guard case .forward(let plan) = decision else { Issue.record("refused: \(Self.reason(decision))"); return }
        #expect(plan.head.uri == "/up?x=1&y=2")
        #expect(plan.head.headers["Cookie"] == ["a=b; c=d"])
        #expect(plan.head.headers["Authorization"] == [])
    }

    /// A route that reads only the header still strips every carrier another route reads.
    @Test func carriersAreStrippedWhereverTheRouteLooks() throws {
        let decision = try Self.decide("/ws/rooms/1?Access_Token=x;keep=1", [("Cookie", "wsgate_token =x, keep=2")])
        guard case .forward(let plan) = decision else { Issue.record("refused: \(Self.reason(decision))"); return }
        #expect(plan.head.uri == "/up/1?keep=1")
        #expect(plan.head.headers["Cookie"] == ["keep=2"])
    }

    /// `forward_token: true` forwards the verified token as `Authorization` only.
    @Test func forwardTokenSendsOnlyTheVerifiedOne() throws {
        let token = try GatewayHarness.token()
        let decision = try Self.decide("/ws/fwd?access_token=\(token)", [("Cookie", "wsgate_token=\(token)")])
        guard case .forward(let plan) = decision else { Issue.record("refused: \(Self.reason(decision))"); return }
        #expect(plan.head.uri == "/up")
        #expect(plan.head.headers["Cookie"] == [])
        #expect(plan.head.headers["Authorization"] == ["Bearer \(token)"])
    }

    /// Each ambiguous path form: 400 `bad_path`, before route lookup.
    @Test(arguments: [
        "/ws/rooms/..%2Fchat", "/ws/rooms/..%2fchat", "/ws/rooms/..%5Cchat", "/ws/rooms/..\\chat",
        "/ws/rooms/%00", "/ws/rooms/../../..", "/nope/%2F",
    ])
    func ambiguousPathsAreBadPaths(uri: String) throws {
        let decision = try Self.decide(uri)
        guard case .reject(let rejection, let context) = decision else { Issue.record("forwarded"); return }
        #expect(rejection == .badPath)
        #expect(rejection.status == .badRequest)
        #expect(context.route == nil)
    }

    /// Dot segments are resolved before matching: `/ws/rooms/../chat` is `/ws/chat` and needs its token.
    @Test(arguments: ["/ws/rooms/../chat", "/ws/rooms/%2e%2e/chat", "/ws/rooms//../chat", "/ws/./chat", "/ws//chat"])
    func dotSegmentsCannotEscapeARoutesPolicy(uri: String) throws {
        let decision = try Self.decide(uri)
        guard case .reject(let rejection, let context) = decision else { Issue.record("forwarded"); return }
        #expect(rejection == .tokenMissing)
        #expect(context.route == "/ws/chat")
    }

    /// The normalised path is what goes upstream.
    @Test func theNormalisedPathIsForwarded() throws {
        let decision = try Self.decide("/ws/rooms/a/../%62//c?q=1")
        guard case .forward(let plan) = decision else { Issue.record("refused: \(Self.reason(decision))"); return }
        #expect(plan.head.uri == "/up/b/c?q=1")
        #expect(plan.clientPath == "/ws/rooms/b/c")
    }
}
