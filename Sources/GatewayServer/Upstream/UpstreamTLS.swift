import GatewayHandshake
import NIOConcurrencyHelpers
import NIOSSL

/// TLS client contexts for `wss://` backends, built once per distinct trust setting and shared:
/// creating an `NIOSSLContext` loads the trust store, far too slow for each handshake.
enum UpstreamTLS {
    private struct Key: Hashable {
        let caFile: String?
        let insecure: Bool
    }

    private static let cache = NIOLockedValueBox<[Key: NIOSSLContext]>([:])

    /// The shared context for `target`'s trust settings: system store or `caFile`, TLS 1.2+,
    /// and no verification only when `insecure_skip_verify` says so.
    static func context(for target: UpstreamTarget) throws -> NIOSSLContext {
        let key = Key(caFile: target.caFile, insecure: target.insecureSkipVerify)
        if let existing = cache.withLockedValue({ $0[key] }) { return existing }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        if let caFile = target.caFile {
            configuration.trustRoots = .file(caFile)
        }
        if target.insecureSkipVerify {
            configuration.certificateVerification = .none
        }
        let context = try NIOSSLContext(configuration: configuration)
        cache.withLockedValue { $0[key] = context }
        return context
    }

    /// SNI carries host names only, never IP literals (RFC 6066 §3).
    static func sniName(_ host: String) -> String? {
        if host.contains(":") { return nil }
        if host.split(separator: ".").count == 4, host.allSatisfy({ $0.isNumber || $0 == "." }) { return nil }
        return host
    }
}
