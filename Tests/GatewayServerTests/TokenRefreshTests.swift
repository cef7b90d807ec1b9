import Foundation
import GatewayAuth
@testable import GatewayServer
import GatewayHandshake
import GatewayTesting
import Testing

/// The checks of a token refresh on the open socket, without sockets: each refused message gets
/// its exact reason, and only a token for the same principal with the same header values passes.
@Suite struct TokenRefreshTests {
    static let route = RouteConfiguration(
        pattern: .exact("/live"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: 1))],
        requirements: ClaimRequirements(claims: [ClaimRequirement(path: "role", allowed: [.string("member"), .string("admin")])]),
        claimsToHeaders: [ClaimHeader(claim: "sub", header: "X-User-Id"), ClaimHeader(claim: "role", header: "X-Role")],
        tokenRefresh: TokenRefreshSettings()
    )

    static func check() throws -> (TokenRefresh, SessionInfo, [String?]) {
        let snapshot = GatewaySnapshot(configuration: try GatewayHarness.configuration(routes: [route]))
        let refresh = TokenRefresh(route: snapshot.routes[0], verifier: snapshot.verifier, maxTokenBytes: 8192)
        let first = try GatewayHarness.token(["role": "member", "sid": "idp-1"])
        let token = try snapshot.verifier.verify(first, now: Date().timeIntervalSince1970)
        var info = SessionInfo(id: "s1", route: "/live", client: "127.0.0.1:1", openedAt: 0)
        info.adopt(token, digest: tokenDigest(first))
        return (refresh, info, TokenRefresh.headerValues(of: token, route: route))
    }

    static func message(_ token: String) -> [UInt8] {
        Array(#"{"type":"wsgate.refresh","token":"\#(token)"}"#.utf8)
    }

    @Test(arguments: [
        (["role": "member", "sid": "idp-1", "jti": "second"] as [String: JSONValue], nil as String?),
        (["role": "admin", "sid": "idp-1"], "claims_changed"),      // an injected header would change
        (["sub": "mallory", "role": "member", "sid": "idp-1"], "claims_changed"),
        (["role": "member", "sid": "idp-2"], "claims_changed"),
        (["role": "member"], "claims_changed"),                     // the first token had a sid
        (["role": "guest", "sid": "idp-1"], "claim_forbidden"),
        (["role": "member", "sid": "idp-1", "exp": .integer(1)], "token_expired"),
    ])
    func aNewTokenMustKeepWhoTheBackendThinksThisIs(claims: [String: JSONValue], refused: String?) throws {
        let (refresh, info, headers) = try Self.check()
        let outcome = refresh.evaluate(
            message: Self.message(try GatewayHarness.token(claims)), current: info, headerValues: headers,
            revocations: RevocationSet(), now: Date().timeIntervalSince1970
        )
        if let refused {
            #expect(outcome == .refused(refused))
        } else {
            guard case .accepted(let next) = outcome else { Issue.record("refused: \(outcome)"); return }
            #expect(next.id == "s1")
            #expect(next.tokenDigest != info.tokenDigest)
        }
    }

    @Test(arguments: [
        (nil as String?, "message_too_large"),
        (#"{"type":"wsgate.refresh"}"#, "message_malformed"),
        (#"{"type":"wsgate.refresh","token":42}"#, "message_malformed"),
        (#"{"type":"wsgate.refresh","token":"a.b.c","extra":1}"#, "message_malformed"),
        (#"{"type":"wsgate.refreshX","token":"a.b.c"}"#, "message_malformed"),
        (#"{"type":"wsgate.refresh","token":""}"#, "token_malformed"),
        (#"{"type":"wsgate.refresh","token":"a.b.c"}"#, "token_malformed"),
        (#"{"type":"wsgate.refresh","token":"a.b.c"#, "message_malformed"),
    ])
    func malformedMessagesAreRefusedByName(text: String?, reason: String) throws {
        let (refresh, info, headers) = try Self.check()
        let outcome = refresh.evaluate(
            message: text.map { Array($0.utf8) }, current: info, headerValues: headers, revocations: RevocationSet(),
            now: Date().timeIntervalSince1970
        )
        #expect(outcome == .refused(reason))
    }

    @Test func aRevokedTokenIsRefused() throws {
        let (refresh, info, headers) = try Self.check()
        let now = Date().timeIntervalSince1970
        let revocations = RevocationSet([Revocation(id: RevocationID.make(), kind: .sessionID, value: "idp-1", until: now + 60, reason: "r", createdAt: now)])
        let outcome = refresh.evaluate(
            message: Self.message(try GatewayHarness.token(["role": "member", "sid": "idp-1"])), current: info,
            headerValues: headers, revocations: revocations, now: now
        )
        #expect(outcome == .refused("token_revoked"))
    }
}

extension TokenRefreshTests {
    /// A renewed token goes through the loop's verified-token cache like a handshake's: the first
    /// refresh verifies and stores it, the same token again is answered from the cache, and a
    /// handshake with it afterwards (a reconnect) is a hit too.
    @Test func aRenewedTokenIsCachedForItsReconnect() throws {
        let snapshot = GatewaySnapshot(configuration: try GatewayHarness.configuration(routes: [Self.route]))
        let refresh = TokenRefresh(route: snapshot.routes[0], verifier: snapshot.verifier, maxTokenBytes: 8192)
        let first = try GatewayHarness.token(["role": "member", "sid": "idp-1"])
        let now = Date().timeIntervalSince1970
        var info = SessionInfo(id: "s1", route: "/live", client: "127.0.0.1:1", openedAt: 0)
        let firstVerified = try snapshot.verifier.verify(first, now: now)
        info.adopt(firstVerified, digest: tokenDigest(first))
        let headers = TokenRefresh.headerValues(of: firstVerified, route: Self.route)
        let cache = VerifiedTokenCache(capacity: 8)
        let renewed = try GatewayHarness.token(["role": "member", "sid": "idp-1", "jti": "renewed"])
        for _ in 0..<2 {
            let outcome = refresh.evaluate(
                message: Self.message(renewed), current: info, headerValues: headers, revocations: RevocationSet(), now: now,
                cache: (cache, snapshot.handshake)
            )
            guard case .accepted(let next) = outcome else { Issue.record("refused: \(outcome)"); return }
            #expect(next.tokenDigest == tokenDigest(renewed))
        }
        #expect(cache.misses == 1 && cache.hits == 1 && cache.count == 1)
        #expect(cache.token(digest: tokenDigest(renewed), owner: snapshot.handshake, now: now)?.tokenID == "renewed")
        // A token that does not verify is not stored.
        let forged = renewed.dropLast(2) + "AA"
        let refused = refresh.evaluate(
            message: Self.message(String(forged)), current: info, headerValues: headers, revocations: RevocationSet(), now: now,
            cache: (cache, snapshot.handshake)
        )
        #expect(refused == .refused("signature_invalid"))
        #expect(cache.count == 1)
    }
}

/// `SessionInfo` keeps its request id and token digest packed (16 and 32 bytes) when they are
/// lowercase hex: what comes back is exactly what went in.
@Suite struct SessionInfoDigestTests {
    @Test(arguments: [
        "0123456789abcdef0123456789abcdef",
        "ffffffffffffffffffffffffffffffff",
        "00000000000000000000000000000000",
        // A client's own X-Request-Id: kept as text.
        "req-42",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        tokenDigest("sixty-four digits are a digest's width, also fine as an id"),
    ])
    func idRoundTrips(_ id: String) {
        let info = SessionInfo(id: id, route: "/r", client: "c", openedAt: 0)
        #expect(info.id == id)
        #expect(info == SessionInfo(id: id, route: "/r", client: "c", openedAt: 0))
        #expect(info != SessionInfo(id: id + "0", route: "/r", client: "c", openedAt: 0))
    }

    @Test(arguments: [
        tokenDigest("a.b.c"),
        tokenDigest("another token"),
        String(repeating: "0", count: 64),
        String(repeating: "f", count: 64),
        "0123456789abcdef" + "fedcba9876543210" + "00112233445566778899aabbccddeeff",
        // Not a lowercase SHA-256 in hex: kept as text, unchanged.
        String(repeating: "F", count: 64),
        String(repeating: "a", count: 63),
        String(repeating: "a", count: 65),
        "",
        "not hex at all",
    ])
    func digestRoundTrips(_ digest: String) {
        var info = SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, tokenDigest: digest)
        #expect(info.tokenDigest == digest)
        info.tokenDigest = nil
        #expect(info.tokenDigest == nil)
        info.tokenDigest = digest
        #expect(info.tokenDigest == digest)
        #expect(info == SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, tokenDigest: digest))
    }

    @Test(arguments: [nil, 0, -1, 1_795_628_411, 1_795_628_411.5, Double.greatestFiniteMagnitude] as [Double?])
    func claimTimesRoundTrip(_ time: Double?) {
        var info = SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, issuedAt: time, expiresAt: time)
        #expect(info.issuedAt == time && info.expiresAt == time)
        #expect(info == SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, issuedAt: time, expiresAt: time))
        info.expiresAt = 7
        #expect(info.expiresAt == 7 && info.issuedAt == time)
        info.issuedAt = nil
        #expect(info.issuedAt == nil)
    }

    @Test func differentDigestsAreDifferentSessions() {
        let one = SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, tokenDigest: tokenDigest("one"))
        let two = SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, tokenDigest: tokenDigest("two"))
        #expect(one != two)
    }
}
