import Foundation
import GatewayAuth
import GatewayDemo
import GatewayHandshake
import GatewayServer
import Logging
import NIOCore
import NIOPosix

/// Fixtures shared by the integration tests: a secret, keys, tokens, and a running gateway in
/// front of a real echo backend, all on loopback with kernel-chosen ports.
public enum GatewayHarness {
    /// The HS256 secret the test keys use (32 bytes).
    public static let secret: [UInt8] = Array("wsgate-test-secret-0123456789abcdef".utf8)

    /// The test key set: `test-hs` for HS256.
    public static func keys() throws -> KeySet {
        KeySet([try VerificationKey.hmac(secret: secret, id: "test-hs", algorithms: [.hs256])])
    }

    /// A token signed with the test secret: `sub` alice, valid for an hour, plus `claims`.
    public static func token(_ claims: [String: JSONValue] = [:], kid: String? = "test-hs", ttl: Double = 3600, secret: [UInt8] = GatewayHarness.secret) throws -> String {
        let now = Date().timeIntervalSince1970.rounded(.down)
        var all: [String: JSONValue] = ["sub": .string("alice"), "iat": .integer(Int64(now)), "exp": .integer(Int64(now + ttl))]
        all.merge(claims) { _, new in new }
        return try TokenSigner.hmac(.hs256, secret: secret, kid: kid).sign(claims: all)
    }

    /// A configuration with one listener on port 0 and the given routes.
    public static func configuration(routes: [RouteConfiguration], limits: Limits = Limits(), auth: AuthSettings = AuthSettings(
        tokenSources: [.header, .query(name: "access_token"), .cookie(name: "wsgate_token"), .subprotocol]
    )) throws -> GatewayConfiguration {
        GatewayConfiguration(
            listeners: [ListenerConfiguration(endpoint: SocketEndpoint(host: "127.0.0.1", port: 0))],
            keys: try keys(),
            auth: auth,
            routes: routes,
            rejectionLog: RejectionLogConfiguration(destination: .disabled),
            limits: limits
        )
    }

    /// Runs `body` with an echo backend listening on a free port.
    public static func withEchoBackend<T: Sendable>(_ body: (Int) async throws -> T) async throws -> T {
        let backend = try await EchoBackend.start(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        do {
            let result = try await body(backend.localAddress!.port!)
            try await backend.shutdown()
            return result
        } catch {
            try? await backend.shutdown()
            throw error
        }
    }

    /// Runs `body` with a gateway started from `configuration`; afterwards shuts it down.
    public static func withGateway<T: Sendable>(
        _ configuration: GatewayConfiguration, _ body: (Gateway, Int) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "wsgate-test")
        logger.logLevel = .warning
        let gateway = try await Gateway.start(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        do {
            let result = try await body(gateway, gateway.listeningAddresses[0].port!)
            try await gateway.shutdown(drainTimeout: .seconds(2))
            return result
        } catch {
            try? await gateway.shutdown(drainTimeout: .seconds(2))
            throw error
        }
    }

    /// Waits until the gateway holds no client, upstream or relayed connection (woken by the last
    /// close through `Gateway.waitUntilIdle`, not by polling); returns whether that happened
    /// within `timeout`.
    public static func settle(_ gateway: Gateway, timeout: Duration = .seconds(5)) async -> Bool {
        let (seconds, attoseconds) = timeout.components
        return await gateway.waitUntilIdle(timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}
