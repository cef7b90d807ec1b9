import GatewayHandshake
import Foundation
import GatewayAuth
import GatewayTesting
import Logging
import NIOHTTP1
import NIOPosix
import Testing

@testable import GatewayServer

/// The verified-token cache in the handshake pipeline (`HandshakePlanner.decide`): a repeated
/// token is answered from the cache, and nothing the cache holds outlives its `exp`, a
/// revocation, or a reload that removes its key; refusals are never stored.
@Suite struct TokenCacheTests {
    static let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: 9), path: "/up")

    static func snapshot(keys: KeySet? = nil) throws -> GatewaySnapshot {
        var config = try GatewayHarness.configuration(routes: [RouteConfiguration(pattern: .exact("/ws/chat"), upstreams: [backend])])
        if let keys { config.keys = keys }
        return GatewaySnapshot(configuration: config)
    }

    /// The decision's reason code, or "forward".
    static func decide(
        _ snapshot: GatewaySnapshot, token: String, now: Double, cache: VerifiedTokenCache, revocations: RevocationSet = RevocationSet()
    ) -> String {
        let headers: HTTPHeaders = [
            "Host": "gw", "Upgrade": "websocket", "Connection": "Upgrade", "Authorization": "Bearer \(token)",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
        ]
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/ws/chat", headers: headers)
        let client = ClientFacts(address: "127.0.0.1:1", ip: "127.0.0.1", clientIP: "127.0.0.1", peerIsTrustedProxy: false, secure: false)
        switch HandshakePlanner(rules: snapshot.handshake).decide(head: head, client: client, now: now, revocation: revocations.handshakeCheck(now: now), tokenCache: cache, admission: { _ in nil }) {
        case .reject(let rejection, _): return rejection.reason
        case .forward: return "forward"
        }
    }

    static var now: Double { Date().timeIntervalSince1970.rounded(.down) }

    @Test func aRepeatedTokenIsAnsweredFromTheCache() throws {
        let snapshot = try Self.snapshot()
        let cache = VerifiedTokenCache(capacity: 8)
        let token = try GatewayHarness.token()
        #expect(Self.decide(snapshot, token: token, now: Self.now, cache: cache) == "forward")
        #expect(Self.decide(snapshot, token: token, now: Self.now, cache: cache) == "forward")
        #expect(Self.decide(snapshot, token: token, now: Self.now, cache: cache) == "forward")
        #expect(cache.hits == 2 && cache.misses == 1 && cache.count == 1)
    }

    /// A cached token one second before its exp is accepted from the cache; at exp (RFC 7519
    /// §4.1.4: "on or after" is expired) it is refused, as the verifier refuses it.
    @Test func atExpTheCachedTokenIsRefused() throws {
        let snapshot = try Self.snapshot()
        let cache = VerifiedTokenCache(capacity: 8)
        let token = try GatewayHarness.token(ttl: 60)
        let exp = try #require(try snapshot.verifier.verify(token, now: 0).expiresAt)
        #expect(Self.decide(snapshot, token: token, now: exp - 2, cache: cache) == "forward")
        #expect(Self.decide(snapshot, token: token, now: exp - 1, cache: cache) == "forward")
        #expect(cache.hits == 1)
        #expect(Self.decide(snapshot, token: token, now: exp, cache: cache) == "token_expired")
        #expect(cache.hits == 1 && cache.count == 0)
    }

    /// The revocation check stays after the cache: a token revoked after it was cached is
    /// refused on its very next handshake, though the cache answered.
    @Test func aTokenRevokedAfterCachingIsRefusedAtOnce() throws {
        let snapshot = try Self.snapshot()
        let cache = VerifiedTokenCache(capacity: 8)
        let token = try GatewayHarness.token()
        let now = Self.now
        #expect(Self.decide(snapshot, token: token, now: now, cache: cache) == "forward")
        let revocations = RevocationSet([Revocation(id: RevocationID.make(), kind: .subject, value: "alice", until: now + 60, reason: "r", createdAt: now)])
        #expect(Self.decide(snapshot, token: token, now: now, cache: cache, revocations: revocations) == "token_revoked")
        #expect(cache.hits == 1)
    }

    /// A reload that removes the token's key: the new snapshot's first handshake with the
    /// cached token is refused (`unknown_key`), not answered from the old snapshot's entries.
    @Test func aReloadRemovingTheKeyRefusesTheCachedTokenAtOnce() throws {
        let before = try Self.snapshot()
        let cache = VerifiedTokenCache(capacity: 8)
        let token = try GatewayHarness.token()
        #expect(Self.decide(before, token: token, now: Self.now, cache: cache) == "forward")
        let after = try Self.snapshot(keys: KeySet([
            try VerificationKey.hmac(secret: Array(repeating: 3, count: 32), id: "other", algorithms: [.hs256]),
        ]))
        #expect(Self.decide(after, token: token, now: Self.now, cache: cache) == "unknown_key")
        #expect(cache.hits == 0 && cache.count == 0)
    }

    /// Refusals are not stored: a forged token is verified (and refused) every time.
    @Test func refusalsAreNotCached() throws {
        let snapshot = try Self.snapshot()
        let cache = VerifiedTokenCache(capacity: 8)
        let forged = try GatewayHarness.token(secret: Array(repeating: 5, count: 32))
        for _ in 0..<3 {
            #expect(Self.decide(snapshot, token: forged, now: Self.now, cache: cache) == "signature_invalid")
        }
        #expect(cache.count == 0 && cache.hits == 0 && cache.misses == 3)
    }

    /// Through a running gateway, real sockets: the second handshake with a token is answered
    /// from the accepting loop's cache; after a reload to a key set without the token's key the
    /// same token gets 401 on its next handshake.
    @Test func aRunningGatewayCachesAndAReloadInvalidates() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            let route = RouteConfiguration(
                pattern: .exact("/ws/chat"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort), path: "/")]
            )
            // One event loop: every connection is accepted on it, so the hit count is exact.
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var logger = Logger(label: "wsgate-test")
            logger.logLevel = .warning
            let gateway = try await Gateway.start(configuration: try GatewayHarness.configuration(routes: [route]), group: group, logger: logger)
            let port = gateway.listeningAddresses[0].port!
            do {
                let token = try GatewayHarness.token()
                for _ in 0..<2 {
                    let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
                    #expect(response.status == 101)
                    try await client?.sendClose(code: 1000)
                    await client?.waitClosed()
                }
                var hits = 0
                for box in gateway.runtime.tokenCaches.values {
                    hits += try await box.eventLoop.submit { box.value.hits }.get()
                }
                #expect(hits == 1)
                #expect(gateway.runtime.tokenCaches.count == 1)

                var reloaded = gateway.configuration
                reloaded.keys = KeySet([try VerificationKey.hmac(secret: Array(repeating: 3, count: 32), id: "other", algorithms: [.hs256])])
                #expect(await gateway.reload(reloaded) == nil)
                let (refused, _) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
                #expect(refused.status == 401)
                #expect(refused.body == #"{"status":401,"reason":"unknown_key"}"#)
            } catch {
                try? await gateway.shutdown(drainTimeout: .seconds(2))
                try? await group.shutdownGracefully()
                throw error
            }
            try await gateway.shutdown(drainTimeout: .seconds(2))
            try await group.shutdownGracefully()
        }
    }
}
