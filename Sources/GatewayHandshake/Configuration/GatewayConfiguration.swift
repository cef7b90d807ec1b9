import GatewayAuth
import GatewayText
import NIOCore

/// The whole runtime configuration of one gateway: an immutable, validated snapshot.
///
/// `GatewayConfig` builds it from YAML; tests build it directly. A connection captures the
/// snapshot it was accepted under and keeps it until it closes, so a reload never changes the
/// rules under an open connection.
public struct GatewayConfiguration: Sendable {
    /// Client-facing listeners.
    public var listeners: [ListenerConfiguration]
    /// The admin listener (`/healthz`, `/readyz`, `/metrics`, `/rejections`), if any.
    public var admin: AdminConfiguration?
    /// Verification keys, parsed once.
    public var keys: KeySet
    /// Token verification settings shared by all routes.
    public var auth: AuthSettings
    /// The route whitelist. Order does not matter: the longest match wins.
    public var routes: [RouteConfiguration]
    /// Where rejections are written.
    public var rejectionLog: RejectionLogConfiguration
    /// Timeouts, sizes and admission caps.
    public var limits: Limits
    /// Peers whose `X-Forwarded-For` is trusted (CIDR blocks).
    public var trustedProxies: [CIDRBlock]
    /// JWKS documents fetched over HTTP(S) and refreshed while running (`keys[].jwks_url`).
    public var remoteKeySets: [RemoteKeySetConfiguration] = []
    /// Where a single instance keeps its revocations across restarts (`state_dir`); nil keeps
    /// them in memory only (tests, and configurations built in code).
    public var stateDirectory: String?
    /// How revocations last (`revocation:`).
    public var revocation = RevocationSettings()
    /// Several instances sharing revocations through PostgreSQL (`cluster:`); nil: one instance.
    public var cluster: ClusterConfiguration?

    /// Creates a configuration.
    public init(
        listeners: [ListenerConfiguration],
        admin: AdminConfiguration? = nil,
        keys: KeySet,
        auth: AuthSettings = AuthSettings(),
        routes: [RouteConfiguration],
        rejectionLog: RejectionLogConfiguration = RejectionLogConfiguration(),
        limits: Limits = Limits(),
        trustedProxies: [CIDRBlock] = []
    ) {
        self.listeners = listeners
        self.admin = admin
        self.keys = keys
        self.auth = auth
        self.routes = routes
        self.rejectionLog = rejectionLog
        self.limits = limits
        self.trustedProxies = trustedProxies
    }
}

/// A JWKS fetched from a URL at start-up and every `refreshInterval` (`keys[].jwks_url`).
public struct RemoteKeySetConfiguration: Sendable, Hashable {
    /// `https://…/jwks.json` (or `http://` for loopback and tests).
    public var url: String
    /// How often to refetch; a `Cache-Control: max-age` within the bounds below wins.
    public var refreshInterval: TimeAmount
    /// Lower bound on any refresh, including the early one an unknown `kid` triggers.
    public var minimumRefreshInterval: TimeAmount
    /// Upper bound on `max-age`.
    public var maximumRefreshInterval: TimeAmount
    /// Algorithms the set's keys may verify (nil: each key's `alg` or its type's algorithms).
    public var algorithms: Set<JWTAlgorithm>?
    /// A file holding the last good copy: used when the URL cannot be reached at start-up.
    public var cacheFile: String?
    /// CA file for verifying an `https://` JWKS endpoint instead of the system store.
    public var caFile: String?

    /// Creates a remote key set.
    public init(
        url: String, refreshInterval: TimeAmount = .minutes(5), minimumRefreshInterval: TimeAmount = .seconds(30),
        maximumRefreshInterval: TimeAmount = .hours(24), algorithms: Set<JWTAlgorithm>? = nil,
        cacheFile: String? = nil, caFile: String? = nil
    ) {
        self.url = url
        self.refreshInterval = refreshInterval
        self.minimumRefreshInterval = minimumRefreshInterval
        self.maximumRefreshInterval = maximumRefreshInterval
        self.algorithms = algorithms
        self.cacheFile = cacheFile
        self.caFile = caFile
    }
}

/// A host and port to bind or connect to.
public struct SocketEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Host name or literal address (IPv6 without brackets).
    public var host: String
    /// TCP port; 0 asks the kernel for a free one when binding.
    public var port: Int

    /// Creates an endpoint.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port`; nil when malformed or the port is out of range.
    public init?(parsing text: String) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        self.init(host: String(host), port: port)
    }

    /// `host:port`, with brackets around IPv6 literals.
    public var description: String {
        HostPort.text(host: host, port: port)
    }
}

/// One client-facing listener.
public struct ListenerConfiguration: Sendable {
    /// Where to bind.
    public var endpoint: SocketEndpoint
    /// TLS termination, when set.
    public var tls: TLSFiles?
    /// Expect a PROXY protocol (v1 or v2) header before the HTTP request.
    public var proxyProtocol: Bool
    /// The name a socket handed over by systemd carries for this listener (`FileDescriptorName=`
    /// in the `.socket` unit, seen in `LISTEN_FDNAMES`); nil matches inherited sockets by address only.
    public var name: String?

    /// Creates a listener configuration.
    public init(endpoint: SocketEndpoint, tls: TLSFiles? = nil, proxyProtocol: Bool = false, name: String? = nil) {
        self.endpoint = endpoint
        self.tls = tls
        self.proxyProtocol = proxyProtocol
        self.name = name
    }
}

/// Certificate chain and private key files (PEM).
public struct TLSFiles: Sendable, Hashable {
    /// PEM certificate chain, leaf first.
    public var certificateFile: String
    /// PEM private key.
    public var privateKeyFile: String

    /// Creates a TLS file pair.
    public init(certificateFile: String, privateKeyFile: String) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
    }
}

/// The admin listener.
public struct AdminConfiguration: Sendable {
    /// Where to bind; loopback by default.
    public var endpoint: SocketEndpoint
    /// How many recent rejections `/rejections` keeps.
    public var recentRejections: Int
    /// A static bearer token (`admin.token_file` / `admin.token_env`), compared in constant time.
    public var bearerToken: String?
    /// Scopes a JWT (verified by the gateway's own keys and policy) must grant to act as admin
    /// (`admin.require_scopes`); nil when JWTs are not accepted.
    public var requiredScopes: [String]?
    /// `/metrics` answers without authentication (`admin.public_metrics`).
    public var publicMetrics: Bool
    /// Origins (lower-cased) whose state-changing requests are accepted besides same-origin ones
    /// (`admin.allowed_origins`): the dashboard's address behind a proxy that rewrites `Host`.
    public var allowedOrigins: [String] = []

    /// Creates an admin configuration.
    public init(
        endpoint: SocketEndpoint, recentRejections: Int = 1000, bearerToken: String? = nil, requiredScopes: [String]? = nil,
        publicMetrics: Bool = false
    ) {
        self.endpoint = endpoint
        self.recentRejections = recentRejections
        self.bearerToken = bearerToken
        self.requiredScopes = requiredScopes
        self.publicMetrics = publicMetrics
    }

    /// Whether any authentication method is configured (then every endpoint but the probes needs
    /// a bearer).
    public var requiresAuthentication: Bool { bearerToken != nil || requiredScopes != nil }
}

/// Where a token may be found, in the order a route looks.
public enum TokenSource: Sendable, Hashable, CustomStringConvertible {
    /// `Authorization: Bearer <jwt>` (RFC 6750 §2.1).
    case header
    /// A query parameter (RFC 6750 §2.3), removed before the request goes upstream.
    case query(name: String)
    /// A cookie.
    case cookie(name: String)
    /// `Sec-WebSocket-Protocol: bearer, <jwt>`; both entries are removed before forwarding.
    case subprotocol

    /// The default order of PRODUCT.md.
    public static let defaultOrder: [TokenSource] = [.header, .query(name: "access_token"), .subprotocol]

    /// The config spelling: `header`, `query:NAME`, `cookie:NAME`, `subprotocol`.
    public var description: String {
        switch self {
        case .header: "header"
        case .query(let name): "query:\(name)"
        case .cookie(let name): "cookie:\(name)"
        case .subprotocol: "subprotocol"
        }
    }
}

/// Token verification settings shared by all routes.
public struct AuthSettings: Sendable {
    /// Accepted issuers; empty accepts any (and then `iss` is not required).
    public var issuers: [String]
    /// Accepted audiences; empty accepts any.
    public var audiences: [String]
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    public var leewaySeconds: Int64
    /// Upper bound on a token's length in bytes.
    public var maxTokenBytes: Int
    /// Where tokens are looked for, in order, unless a route overrides it.
    public var tokenSources: [TokenSource]
    /// `try_all_keys`: a token without `kid` is tried against every key allowing its `alg`
    /// instead of only the first (each extra key is one more signature check per forged token).
    public var tryAllKeys = false
    /// `token_cache_size`: verified tokens remembered per event loop until their `exp`, so a
    /// token presented again skips the signature check; 0 turns the cache off.
    public var tokenCacheSize = 1024

    /// Creates auth settings.
    public init(
        issuers: [String] = [],
        audiences: [String] = [],
        leewaySeconds: Int64 = 0,
        maxTokenBytes: Int = 8192,
        tokenSources: [TokenSource] = TokenSource.defaultOrder
    ) {
        self.issuers = issuers
        self.audiences = audiences
        self.leewaySeconds = leewaySeconds
        self.maxTokenBytes = maxTokenBytes
        self.tokenSources = tokenSources
    }

    /// The verifier policy these settings describe.
    public var policy: VerificationPolicy {
        VerificationPolicy(
            issuers: issuers,
            audiences: audiences,
            leewaySeconds: leewaySeconds,
            maxTokenBytes: maxTokenBytes,
            tryAllKeys: tryAllKeys
        )
    }
}

/// How a route treats tokens.
public enum AuthMode: String, Sendable, Hashable {
    /// A valid token is required.
    case required
    /// A token is verified when present (a bad one is still rejected); none is fine.
    case optional
    /// Tokens are not looked at.
    case none
}

/// How a route's path is matched. Query strings never take part.
public enum RoutePattern: Sendable, Hashable, CustomStringConvertible {
    /// The path must equal this exactly.
    case exact(String)
    /// The path must be this prefix or start with it followed by `/` (`/ws/rooms/*`).
    case prefix(String)

    /// Parses the config spelling: a trailing `/*` makes a prefix.
    public init(_ spelling: String) {
        if spelling.hasSuffix("/*") {
            self = .prefix(String(spelling.dropLast(2)))
        } else {
            self = .exact(spelling)
        }
    }

    /// The config spelling.
    public var description: String {
        switch self {
        case .exact(let path): path
        case .prefix(let path): path + "/*"
        }
    }
}

/// A `ws://` or `wss://` backend address.
public struct UpstreamTarget: Sendable, Hashable, CustomStringConvertible {
    /// `wss://` when true.
    public var secure: Bool
    /// Host and port to connect to.
    public var endpoint: SocketEndpoint
    /// Path (and fixed query) on the backend; the client's path below a prefix route is appended.
    public var path: String
    /// Skip certificate verification on `wss://` (logged as a warning).
    public var insecureSkipVerify: Bool
    /// CA file for verifying a `wss://` backend instead of the system store.
    public var caFile: String?

    /// Creates an upstream target.
    public init(secure: Bool = false, endpoint: SocketEndpoint, path: String = "/", insecureSkipVerify: Bool = false, caFile: String? = nil) {
        self.secure = secure
        self.endpoint = endpoint
        self.path = path
        self.insecureSkipVerify = insecureSkipVerify
        self.caFile = caFile
    }

    /// Parses `ws://host:port/path` or `wss://…`; nil when it is not such a URL.
    public init?(url: String) {
        let secure: Bool
        let rest: Substring
        if url.hasPrefix("ws://") {
            secure = false
            rest = url.dropFirst(5)
        } else if url.hasPrefix("wss://") {
            secure = true
            rest = url.dropFirst(6)
        } else {
            return nil
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        var path = String(rest.dropFirst(authority.count))
        if path.isEmpty { path = "/" } else if path.first == "?" { path = "/" + path }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host: Substring
        var port = secure ? 443 : 80
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":", let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            host = authority
        }
        guard !host.isEmpty else { return nil }
        self.init(secure: secure, endpoint: SocketEndpoint(host: String(host), port: port), path: path)
    }

    /// The URL spelling.
    public var description: String {
        "\(secure ? "wss" : "ws")://\(endpoint)\(path)"
    }
}

/// A claim that must be mapped into an upstream request header.
public struct ClaimHeader: Sendable, Hashable {
    /// Dotted claim path (`org.id`).
    public var claim: String
    /// Header name to set.
    public var header: String

    /// Creates a mapping.
    public init(claim: String, header: String) {
        self.claim = claim
        self.header = header
    }
}

/// One whitelisted route.
public struct RouteConfiguration: Sendable {
    /// Which paths this route serves.
    public var pattern: RoutePattern
    /// Backends, tried round robin.
    public var upstreams: [UpstreamTarget]
    /// Whether a token is required.
    public var auth: AuthMode
    /// Claims and scopes a verified token must carry (403 otherwise).
    public var requirements: ClaimRequirements
    /// Claims injected as upstream headers.
    public var claimsToHeaders: [ClaimHeader]
    /// Header that carries the whole verified payload as base64url JSON, when set.
    public var forwardPayloadHeader: String?
    /// Pass the verified token itself upstream (in `Authorization`); off by default.
    public var forwardToken: Bool
    /// Allowed `Origin` values; nil allows any.
    public var allowedOrigins: [String]?
    /// Token sources for this route; nil uses `auth.token_sources`.
    public var tokenSources: [TokenSource]?
    /// Close code sent to the client when its token expires on an open connection.
    public var expiryCloseCode: UInt16
    /// Cap on open connections for this route; nil is no cap beyond the global one.
    public var maxConnections: Int?
    /// Token refresh on the open socket (SESSIONS.md), when the route enables it.
    public var tokenRefresh: TokenRefreshSettings?

    /// Creates a route.
    public init(
        pattern: RoutePattern,
        upstreams: [UpstreamTarget],
        auth: AuthMode = .required,
        requirements: ClaimRequirements = ClaimRequirements(),
        claimsToHeaders: [ClaimHeader] = [],
        forwardPayloadHeader: String? = nil,
        forwardToken: Bool = false,
        allowedOrigins: [String]? = nil,
        tokenSources: [TokenSource]? = nil,
        expiryCloseCode: UInt16 = 4001,
        maxConnections: Int? = nil,
        tokenRefresh: TokenRefreshSettings? = nil
    ) {
        self.pattern = pattern
        self.upstreams = upstreams
        self.auth = auth
        self.requirements = requirements
        self.claimsToHeaders = claimsToHeaders
        self.forwardPayloadHeader = forwardPayloadHeader
        self.forwardToken = forwardToken
        self.allowedOrigins = allowedOrigins
        self.tokenSources = tokenSources
        self.expiryCloseCode = expiryCloseCode
        self.maxConnections = maxConnections
        self.tokenRefresh = tokenRefresh
    }
}

/// Where rejection lines go.
public struct RejectionLogConfiguration: Sendable {
    /// The destination.
    public enum Destination: Sendable, Hashable {
        /// Append to this file.
        case file(String)
        /// Write to standard error.
        case standardError
        /// Do not write (the in-memory ring and metrics still see rejections).
        case disabled
    }

    /// The destination.
    public var destination: Destination

    /// Creates a rejection log configuration; stderr by default.
    public init(destination: Destination = .standardError) {
        self.destination = destination
    }
}

/// Timeouts, sizes and admission caps.
public struct Limits: Sendable {
    /// Time allowed for the client's request head.
    public var handshakeTimeout: TimeAmount
    /// Time allowed for connecting to the backend and reading its 101.
    public var upstreamTimeout: TimeAmount
    /// Close a connection with no frames either way for this long.
    public var idleTimeout: TimeAmount
    /// The whole drain's budget, from SIGTERM until whatever is still open is closed.
    public var drainTimeout: TimeAmount
    /// After SIGTERM, `/readyz` answers 503 while the listeners keep accepting this long, so a
    /// balancer's health check sees the instance leave before its connections are refused.
    public var drainDelay: TimeAmount
    /// The 1001 closes are sent spread evenly over this period after the listeners stop, so
    /// clients do not all reconnect at once (HAProxy's `close-spread-time`); zero sends them at once.
    public var drainSpread: TimeAmount
    /// Bound on the request line plus headers.
    public var maxHeaderBytes: Int
    /// Bound on one frame's payload (close 1009 to the sender).
    public var maxFrameBytes: Int
    /// Bound on one message's payload across its fragments.
    public var maxMessageBytes: Int
    /// Global cap on open client connections.
    public var maxConnections: Int
    /// Per-client-IP handshake rate; nil is no limit.
    public var maxHandshakesPerIPPerSecond: Int?
    /// Cap on concurrent connections of one token subject; nil is no cap.
    public var maxConnectionsPerSubject: Int?
    /// Send a keep-alive ping after this much silence; nil disables gateway pings.
    public var keepaliveInterval: TimeAmount?

    /// Creates limits with production defaults.
    public init(
        handshakeTimeout: TimeAmount = .seconds(5),
        upstreamTimeout: TimeAmount = .seconds(5),
        idleTimeout: TimeAmount = .seconds(120),
        drainTimeout: TimeAmount = .seconds(30),
        drainDelay: TimeAmount = .zero,
        drainSpread: TimeAmount = .zero,
        maxHeaderBytes: Int = 16 * 1024,
        maxFrameBytes: Int = 1 << 20,
        maxMessageBytes: Int = 16 << 20,
        maxConnections: Int = 100_000,
        maxHandshakesPerIPPerSecond: Int? = nil,
        maxConnectionsPerSubject: Int? = nil,
        keepaliveInterval: TimeAmount? = nil
    ) {
        self.handshakeTimeout = handshakeTimeout
        self.upstreamTimeout = upstreamTimeout
        self.idleTimeout = idleTimeout
        self.drainTimeout = drainTimeout
        self.drainDelay = drainDelay
        self.drainSpread = drainSpread
        self.maxHeaderBytes = maxHeaderBytes
        self.maxFrameBytes = maxFrameBytes
        self.maxMessageBytes = maxMessageBytes
        self.maxConnections = maxConnections
        self.maxHandshakesPerIPPerSecond = maxHandshakesPerIPPerSecond
        self.maxConnectionsPerSubject = maxConnectionsPerSubject
        self.keepaliveInterval = keepaliveInterval
    }
}

/// An IPv4 or IPv6 CIDR block (`10.0.0.0/8`, `::1/128`).
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    /// Network address bytes (4 or 16).
    public let network: [UInt8]
    /// Prefix length in bits.
    public let prefixLength: Int

    /// Parses `ADDR/LEN` or a bare address (a single host); nil when malformed.
    public init?(_ spelling: String) {
        let parts = spelling.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        guard let bytes = CIDRBlock.addressBytes(String(parts[0])) else { return nil }
        let maxBits = bytes.count * 8
        var length = maxBits
        if parts.count == 2 {
            guard let l = Int(parts[1]), (0...maxBits).contains(l) else { return nil }
            length = l
        }
        self.network = CIDRBlock.masked(bytes, length)
        self.prefixLength = length
    }

    /// Whether `address` (4 or 16 bytes) lies in this block.
    public func contains(_ address: [UInt8]) -> Bool {
        var address = address
        if address.count == 16, network.count == 4,
           address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xff, address[11] == 0xff {
            address = Array(address[12..<16])  // IPv4-mapped IPv6
        }
        guard address.count == network.count else { return false }
        return CIDRBlock.masked(address, prefixLength) == network
    }

    /// `ADDR/LEN`.
    public var description: String {
        let addr: String
        if network.count == 4 {
            addr = network.map(String.init).joined(separator: ".")
        } else {
            addr = stride(from: 0, to: 16, by: 2).map { String(UInt16(network[$0]) << 8 | UInt16(network[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
        return "\(addr)/\(prefixLength)"
    }

    /// The bytes of a literal IPv4 or IPv6 address.
    public static func addressBytes(_ text: String) -> [UInt8]? {
        if let v4 = try? SocketAddress(ipAddress: text, port: 0) {
            switch v4 {
            case .v4(let a):
                return withUnsafeBytes(of: a.address.sin_addr.s_addr) { Array($0) }
            case .v6(let a):
                return withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
            default:
                return nil
            }
        }
        return nil
    }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        var out = bytes
        for i in 0..<out.count {
            let bitsHere = max(0, min(8, length - i * 8))
            out[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
        return out
    }
}
