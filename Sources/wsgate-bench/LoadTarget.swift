import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// `ws://host:port/path` or `wss://…` resolved to a socket address.
struct LoadTarget: Sendable {
    /// Where to connect.
    let address: SocketAddress
    /// `Host` header value.
    let hostHeader: String
    /// Request target (path and query).
    let requestTarget: String
    /// Whether connections speak TLS first (`wss://`).
    let secure: Bool
    /// The host name sent as SNI (nil for an IP address literal, RFC 6066 §3).
    let serverName: String?
    /// The one TLS version offered (minimum and maximum alike).
    var tlsVersion: TLSVersion = .tlsv13
    /// TCP_NODELAY on the client's sockets.
    var noDelay = true
    /// The client TLS context shared by all connections (`wss://` only).
    var tls: NIOSSLContext?

    /// Parses a `ws://` or `wss://` URL with a numeric or resolvable host.
    init?(url: String) {
        if url.hasPrefix("wss://") {
            secure = true
        } else if url.hasPrefix("ws://") {
            secure = false
        } else {
            return nil
        }
        let rest = url.dropFirst(secure ? 6 : 5)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        requestTarget = slash == rest.endIndex ? "/" : String(rest[slash...])
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) else { return nil }
        let host = String(authority[..<colon])
        guard let address = try? SocketAddress.makeAddressResolvingHost(host, port: port) else { return nil }
        self.address = address
        hostHeader = authority
        let literal = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        serverName = literal ? nil : host
    }

    /// The client TLS context of a `wss://` target: one version, no certificate verification
    /// (the benchmark's certificates are minted on the spot; verifying them costs the client, not
    /// the proxy), ALPN `http/1.1` as browsers offer it, and X25519 only: BoringSSL's client would
    /// also offer X25519MLKEM768, which wsgate's BoringSSL accepts and HAProxy's OpenSSL 3.0 does
    /// not, and the proxies would then be compared on different key exchanges.
    func makeTLSContext() throws -> NIOSSLContext? {
        guard secure else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = tlsVersion
        configuration.maximumTLSVersion = tlsVersion
        configuration.certificateVerification = .none
        configuration.applicationProtocols = ["http/1.1"]
        configuration.curves = [.x25519]
        return try NIOSSLContext(configuration: configuration)
    }
}
