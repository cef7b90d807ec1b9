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

    /// The same through a running gateway: the session hands its loop's cache to the refresh, so
    /// after `wsgate.refreshed` the renewed token is in that cache under the current rules (the
    /// unit test above would still pass if the session never passed the cache).
    @Test func aRunningSessionStoresTheRenewedTokenInItsLoopsCache() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            let route = RouteConfiguration(
                pattern: .exact("/live"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort), path: "/backend")],
                tokenRefresh: TokenRefreshSettings()
            )
            try await GatewayHarness.withGateway(try GatewayHarness.configuration(routes: [route])) { gateway, port in
                let first = try GatewayHarness.token()
                let renewed = try GatewayHarness.token(["jti": "renewed-on-the-socket"])
                let (client, _, _) = try await RelayTests.open(port: port, path: "/live", headers: [("Authorization", "Bearer \(first)")])
                try await client.send(text: String(decoding: Self.message(renewed), as: UTF8.self))
                let exp = try #require(try gateway.runtime.snapshot.verifier.verify(renewed, now: Date().timeIntervalSince1970).expiresAt)
                #expect(await client.nextText() == TokenRefresh.refreshedMessage(expiresAt: exp))
                let session = try #require(gateway.runtime.registry.all.first)
                let runtime = gateway.runtime
                let cached = try await session.eventLoop.submit {
                    runtime.tokenCaches[ObjectIdentifier(session.eventLoop)]?.value
                        .token(digest: tokenDigest(renewed), owner: runtime.snapshot.handshake, now: runtime.now)?.tokenID
                }.get()
                #expect(cached == "renewed-on-the-socket")
                await client.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }
}
