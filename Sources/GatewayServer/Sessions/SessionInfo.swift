import GatewayAuth

/// What the operator sees of one live (relayed) session, and what revocations are matched
/// against. A value: the registry hands out copies, so readers on other threads never touch the
/// session itself.
public struct SessionInfo: Sendable, Equatable {
    /// The handshake's request id (32 hex digits unless the client sent a sane `X-Request-Id`),
    /// also sent upstream as `X-Request-Id`.
    public let id: String
    /// The route's pattern as configured.
    public let route: String
    /// The client as logged (`ip:port`).
    public let client: String
    /// Unix seconds when the relay started.
    public let openedAt: Double
    /// The verified token's claims that revocations match; nil for routes without a token.
    public var subject: String?
    public var issuer: String?
    public var tokenID: String?
    public var sessionID: String?
    public var issuedAt: Double?
    /// The current token's `exp` (moves on a successful refresh).
    public var expiresAt: Double?
    /// SHA-256 of the current token (hex), so revoking this session refuses its token.
    public var tokenDigest: String?

    /// Creates the description of a session.
    public init(
        id: String, route: String, client: String, openedAt: Double, subject: String? = nil, issuer: String? = nil,
        tokenID: String? = nil, sessionID: String? = nil, issuedAt: Double? = nil, expiresAt: Double? = nil,
        tokenDigest: String? = nil
    ) {
        self.id = id
        self.route = route
        self.client = client
        self.openedAt = openedAt
        self.subject = subject
        self.issuer = issuer
        self.tokenID = tokenID
        self.sessionID = sessionID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.tokenDigest = tokenDigest
    }

    /// Takes the token's claims (at the handshake, and again after a refresh).
    ///
    /// An issuer among `knownIssuers` (the configured ones) is kept as that string, shared, rather
    /// than as a copy of its own per session.
    mutating func adopt(_ token: VerifiedToken, digest: String, knownIssuers: [String] = []) {
        subject = token.subject
        issuer = token.issuer.map { issuer in knownIssuers.first { $0 == issuer } ?? issuer }
        tokenID = token.tokenID
        sessionID = token.sessionID
        issuedAt = token.issuedAt
        expiresAt = token.expiresAt
        tokenDigest = digest
    }

    /// The admin API's JSON object (SESSIONS.md): times in unix seconds, unknown fields omitted.
    func jsonObject(instance: String) -> String {
        var out = JSONObjectWriter()
        out.add("id", id)
        out.add("route", route)
        out.add("sub", subject)
        out.add("iss", issuer)
        out.add("jti", tokenID)
        out.add("sid", sessionID)
        out.add("client", client)
        out.add("opened_at", Int64(openedAt))
        out.add("exp", expiresAt.map { Int64($0) })
        out.add("instance", instance)
        return out.text
    }
}

/// One `SessionInfo` on the heap, shared by the session and the registry: each holds a reference
/// instead of a copy (the struct is ≈ 170 bytes; a copy in the registry's table, with its free
/// slots, cost an idle connection more than the struct itself). Immutable: a token refresh makes
/// a new one, so the admin API reads it from any thread while the session's loop moves on.
final class SharedSessionInfo: Sendable {
    let value: SessionInfo

    init(_ value: SessionInfo) {
        self.value = value
    }
}
