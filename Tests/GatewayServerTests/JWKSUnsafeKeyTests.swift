import Foundation
import GatewayAuth
import GatewayHandshake
import GatewayServer
import GatewayTesting
import Logging
import NIOCore
import NIOPosix
import Testing

/// An issuer's JWKS with one unsafe RSA key (public exponent 1) beside a good key, served by a
/// real JWKS endpoint on loopback: the good key serves at start-up and after every refresh, the
/// bad one is left out and each fetch logs a warning naming it.
@Suite struct JWKSUnsafeKeyTests {
    /// Every log record as one line: level, message, metadata sorted by key.
    final class Recorder: @unchecked Sendable {
        // @unchecked: `lines` is only touched under `lock`.
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    /// A LogHandler that hands each record to a `Recorder`.
    struct RecordingHandler: LogHandler {
        let recorder: Recorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            let merged = self.metadata.merging(metadata ?? [:]) { $1 }
            recorder.append("\(level) \(message) " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }

    /// The modulus of GatewayAuthTests' JWKS RSA key.
    static let modulus = "rhLQAsCHlYB9m5q-MkomQAEGhUlX93GS5sexomzivB8nrOUu5rAgQf0KJh9RchbyT2ukRpKvp7hL8ITQPW7NitGO2eKax-MpPZ8dpvGsezbBOYIrzzARM3Ow8eQ2d2IBfaA_X1ya6OPW045M-D3v7Lrxidvb8LOgvgbKY9W5TU5x0Dh4T2T39JAVpgaejH5ZATcCcItN5DG7-hjSRyfF6d_mDtQ48yuMfth7MCldXu13dPNWvf9QVKZ6YMgtSBQlZxH6kIFTVIYjxSiBv4j62bZ8IDUhvYhX_DJPNPa9xL82GLbd-pN9WAl1hIf7jKPRIldhRgtb1FF2m21aEUOh9w"

    @Test("one JWK with e = 1 beside a good key: the good one serves, the bad one is skipped and logged at start-up and on refresh")
    func badKeySkippedAndLogged() async throws {
        let good = try JWKSRefresherTests.Signer(.es256, kid: "good")
        // A 2048-bit modulus with public exponent 1: anyone could sign for it.
        let weak = "{\"kty\":\"RSA\",\"kid\":\"weak\",\"alg\":\"RS256\",\"n\":\"\(Self.modulus)\",\"e\":\"AQ\"}"
        // Any token naming kid weak (this one is really signed, by another RSA key).
        let claimsWeak = try TokenSigner.generating(.rs256, kid: "weak")
        let now = Int64(Date().timeIntervalSince1970)
        let weakToken = try claimsWeak.sign(claims: ["sub": .string("mallory"), "exp": .integer(now + 3600)])
        let recorder = Recorder()
        let logger = Logger(label: "wsgate-jwks-unsafe") { _ in RecordingHandler(recorder: recorder) }
        let warning = "warning jwks key refused as unsafe; the set's other keys serve error=JWKS key #0 (kid weak): RSA public exponent 1 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged"

        try await JWKSServer.with(reply: .document(JWKSServer.document([weak, good.jwk]))) { server in
            let set = RemoteKeySetConfiguration(url: server.url, refreshInterval: .hours(1), minimumRefreshInterval: .milliseconds(100))
            let remote = try await JWKSRefresher.fetchInitial([set], logger: logger, timeout: .seconds(2))
            #expect(remote[server.url]?.map(\.id) == ["good"])
            #expect(recorder.all.filter { $0.hasPrefix(warning) }.count == 1, "\(recorder.all)")

            try await GatewayHarness.withEchoBackend { backendPort in
                let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort), path: "/")
                var configuration = try GatewayHarness.configuration(routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [backend])])
                configuration.keys = KeySet([])
                configuration.remoteKeySets = [set]
                let gateway = try await Gateway.start(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, remoteKeys: remote, logger: JWKSRefresherTests.logger)
                let refresher = JWKSRefresher(gateway: gateway, sets: [set], logger: logger)
                let running = Task { await refresher.run() }
                defer { running.cancel() }
                let port = gateway.listeningAddresses[0].port!
                #expect(try await JWKSRefresherTests.handshake(port, good.token()).0 == 101)
                // The weak kid is unknown: it asks for an early refresh, which again leaves it out.
                let (status, body) = try await JWKSRefresherTests.handshake(port, weakToken)
                #expect(status == 401 && body == #"{"status":401,"reason":"unknown_key"}"#, "\(body)")
                let refreshed = await JWKSRefresherTests.firstEvent(of: refresher) { event in
                    if case .refreshed(_, _, true) = event { return true }
                    return false
                }
                #expect(refreshed == .refreshed(url: server.url, keyIDs: ["good"], early: true))
                #expect(recorder.all.filter { $0.hasPrefix(warning) }.count == 2, "\(recorder.all)")
                #expect(try await JWKSRefresherTests.handshake(port, good.token()).0 == 101)
                running.cancel()
                await running.value
                try await gateway.shutdown(drainTimeout: .seconds(2))
            }
        }
    }
}
