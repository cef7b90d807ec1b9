import GatewayHandshake
import GatewayAuth
import NIOHTTP1

@testable import GatewayServer

/// The configuration, keys, tokens and fixed time the pure pipeline tests decide against.
///
/// Routes: `/ws/chat` (token required, claims to headers), `/ws/rooms/*` (no auth), `/ws/opt`
/// (optional), `/ws/origin` (no auth, two allowed origins), `/ws/admin` (role admin and scope
/// chat.write). Auth: two issuers, audience `chat`, 30 s leeway, every token source.
enum PipelineFixture {
    /// The decision time: a whole second, so `exp`/`nbf` edges are exact.
    static let second: Int64 = 1_800_000_000
    static let now = Double(second)

    // 68 bytes each: enough for HS512 (RFC 7518 §3.2 wants at least the hash size).
    static let secretA: [UInt8] = Array(("pipeline-secret-a-" + String(repeating: "0123456789", count: 5)).utf8)
    static let secretB: [UInt8] = Array(("pipeline-secret-b-" + String(repeating: "0123456789", count: 5)).utf8)
    static let secretC: [UInt8] = Array(("pipeline-secret-c-" + String(repeating: "0123456789", count: 5)).utf8)
    static let secretD: [UInt8] = Array(("pipeline-secret-d-" + String(repeating: "0123456789", count: 5)).utf8)

    /// The secret of key `a`, `b`, `c` or `d`.
    static func secret(_ name: String) -> [UInt8] {
        switch name {
        case "a": secretA
        case "b": secretB
        case "c": secretC
        default: secretD
        }
    }

    /// Every header of a valid upgrade except `Sec-WebSocket-Version` (RFC 6455 §4.1).
    static let upgradeWithoutVersion: [(String, String)] = [
        ("Host", "gw"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ]

    /// The default key set: `a` for HS256.
    static func keys() throws -> KeySet {
        KeySet([try VerificationKey.hmac(secret: secretA, id: "a", algorithms: [.hs256])])
    }

    /// `a` (HS256), a key without an id holding `b`'s secret (HS256), `c` (HS256 and HS384).
    static func threeKeys() throws -> KeySet {
        KeySet([
            try VerificationKey.hmac(secret: secretA, id: "a", algorithms: [.hs256]),
            try VerificationKey.hmac(secret: secretB, id: nil, algorithms: [.hs256]),
            try VerificationKey.hmac(secret: secretC, id: "c", algorithms: [.hs256, .hs384]),
        ])
    }

    /// A token valid at `now` for the fixture's policy (sub alice, first issuer, aud chat), with
    /// `claims` merged in and `without` removed.
    static func sign(
        _ claims: [String: JSONValue] = [:], without: [String] = [], kid: String? = "a",
        secret: [UInt8] = secretA, algorithm: JWTAlgorithm = .hs256
    ) throws -> String {
        var all: [String: JSONValue] = [
            "sub": .string("alice"), "iss": .string("https://auth.example.com"), "aud": .string("chat"),
            "iat": .integer(second - 10), "exp": .integer(second + 3600),
        ]
        all.merge(claims) { _, new in new }
        for name in without { all[name] = nil }
        return try TokenSigner.hmac(algorithm, secret: secret, kid: kid).sign(claims: all)
    }

    static let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: 9), path: "/up")

    static func configuration(keys: KeySet, maxTokenBytes: Int, tryAllKeys: Bool = false) -> GatewayConfiguration {
        let claims = [
            ClaimHeader(claim: "sub", header: "X-User-Id"), ClaimHeader(claim: "v", header: "X-V"),
            ClaimHeader(claim: "org.id", header: "X-Org-Id"), ClaimHeader(claim: "org.tier", header: "X-Org-Tier"),
            ClaimHeader(claim: "role", header: "X-Role"),
        ]
        let admin = ClaimRequirements(claims: [ClaimRequirement(path: "role", allowed: [.string("admin")])], scopes: ["chat.write"])
        var auth = AuthSettings(
            issuers: ["https://auth.example.com", "https://other.example.com"], audiences: ["chat"], leewaySeconds: 30,
            maxTokenBytes: maxTokenBytes,
            tokenSources: [.header, .query(name: "access_token"), .cookie(name: "wsgate_token"), .subprotocol]
        )
        auth.tryAllKeys = tryAllKeys
        return GatewayConfiguration(
            listeners: [ListenerConfiguration(endpoint: SocketEndpoint(host: "127.0.0.1", port: 0))],
            keys: keys,
            auth: auth,
            routes: [
                RouteConfiguration(pattern: .exact("/ws/chat"), upstreams: [backend], claimsToHeaders: claims),
                RouteConfiguration(pattern: .prefix("/ws/rooms"), upstreams: [backend], auth: .none),
                RouteConfiguration(pattern: .exact("/ws/opt"), upstreams: [backend], auth: .optional),
                RouteConfiguration(pattern: .exact("/ws/origin"), upstreams: [backend], auth: .none,
                                   allowedOrigins: ["https://app.example.com", "http://localhost:3000"]),
                RouteConfiguration(pattern: .exact("/ws/admin"), upstreams: [backend], requirements: admin),
            ],
            rejectionLog: RejectionLogConfiguration(destination: .disabled)
        )
    }

    /// Revokes every token of subject `mallory`.
    static let revocations = RevocationSet([
        Revocation(id: String(repeating: "0", count: 32), kind: .subject, value: "mallory", until: now + 3600, reason: "test", createdAt: now - 1),
    ])

    /// Decides one request. `standardHeaders` adds a valid upgrade's headers before `headers`.
    static func decide(
        _ uri: String = "/ws/chat", method: HTTPMethod = .GET, version: HTTPVersion = .http1_1,
        headers extra: [(String, String)] = [], standardHeaders: Bool = true, now: Double = PipelineFixture.now,
        keys: KeySet? = nil, maxTokenBytes: Int = 8192, tryAllKeys: Bool = false,
        admission: (HandshakeRoute) -> Rejection? = { _ in nil }
    ) throws -> HandshakeDecision {
        var headers = HTTPHeaders()
        if standardHeaders { headers.add(contentsOf: upgradeWithoutVersion + [("Sec-WebSocket-Version", "13")]) }
        headers.add(contentsOf: extra)
        let head = HTTPRequestHead(version: version, method: method, uri: uri, headers: headers)
        let client = ClientFacts(address: "192.0.2.1:4000", ip: "192.0.2.1", clientIP: "192.0.2.1", peerIsTrustedProxy: false, secure: false)
        let config = Self.configuration(keys: try keys ?? Self.keys(), maxTokenBytes: maxTokenBytes, tryAllKeys: tryAllKeys)
        let planner = HandshakePlanner(rules: GatewaySnapshot(configuration: config).handshake)
        return planner.decide(head: head, client: client, now: now, revocation: revocations.handshakeCheck(now: now), admission: admission)
    }

    /// The HTTP status and reason code of a decision; `(101, "forward")` when it goes upstream.
    static func outcome(_ decision: HandshakeDecision) -> (status: Int, reason: String) {
        switch decision {
        case .reject(let rejection, _): (Int(rejection.status.code), rejection.reason)
        case .forward: (101, "forward")
        }
    }
}
