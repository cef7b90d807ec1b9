import Foundation
import GatewayHandshake
import NIOConcurrencyHelpers
import NIOSSL

/// TLS client contexts for `wss://` backends, built once per distinct trust setting and shared:
/// creating an `NIOSSLContext` loads the trust store, far too slow for each handshake.
///
/// A context is looked up when a snapshot is built (start-up, reload, a key-set refresh), never
/// per handshake. The cache is keyed by the CA file's *content*, not its path: a `tls_ca_file`
/// rewritten with a new CA and reloaded gets a context trusting the new CA (and no longer the
/// old one), while snapshots rebuilt with the same file reuse the context they had.
enum UpstreamTLS {
    /// Why a backend's TLS context could not be made (the CA file vanished or holds no
    /// certificate); the handshake fails with 502 and this text in the log.
    struct SetupError: Error, CustomStringConvertible {
        /// What went wrong.
        let description: String
    }

    private struct Key: Hashable {
        /// The CA file's bytes, or nil for the system trust store.
        let caPEM: [UInt8]?
        let insecure: Bool
    }

    /// Bounded: a process that sees many CA rotations keeps only recent contexts here (the
    /// snapshots using older ones hold their own references).
    private static let maxCached = 32
    private static let cache = NIOLockedValueBox<[Key: NIOSSLContext]>([:])

    /// The context for `target`'s trust settings as they are now: system store or the current
    /// content of `caFile`, TLS 1.2+, and no verification only when `insecure_skip_verify` says so.
    static func context(for target: UpstreamTarget) -> Result<NIOSSLContext, SetupError> {
        let pem: [UInt8]?
        if let caFile = target.caFile {
            guard let data = FileManager.default.contents(atPath: caFile) else {
                return .failure(SetupError(description: "cannot read tls_ca_file \(caFile)"))
            }
            pem = Array(data)
        } else {
            pem = nil
        }
        let key = Key(caPEM: pem, insecure: target.insecureSkipVerify)
        if let existing = cache.withLockedValue({ $0[key] }) { return .success(existing) }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        do {
            if let pem {
                // The bytes just read, not the path: the context trusts exactly what the key says.
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(pem))
            }
            if target.insecureSkipVerify {
                configuration.certificateVerification = .none
            }
            let context = try NIOSSLContext(configuration: configuration)
            cache.withLockedValue { cached in
                if cached.count >= maxCached { cached.removeAll() }
                cached[key] = context
            }
            return .success(context)
        } catch {
            return .failure(SetupError(description: "\(error)"))
        }
    }

    /// SNI carries host names only, never IP literals (RFC 6066 §3).
    static func sniName(_ host: String) -> String? {
        if host.contains(":") { return nil }
        if host.split(separator: ".").count == 4, host.allSatisfy({ $0.isNumber || $0 == "." }) { return nil }
        return host
    }
}
