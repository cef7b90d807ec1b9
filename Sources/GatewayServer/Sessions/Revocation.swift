import GatewayAuth

/// One revocation: every token (and live session) matching `kind`/`value` is refused until
/// `until` (SESSIONS.md).
public struct Revocation: Sendable, Hashable {
    /// What a revocation names.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Every token of a subject (`sub`), or, with `issuedBefore`, those issued before a time.
        case subject = "sub"
        /// One token by its `jti`.
        case tokenID = "jti"
        /// Every token of an identity-provider session (`sid`).
        case sessionID = "sid"
        /// One live session of this gateway by its id; its token is refused from then on.
        case session
    }

    /// 32 lowercase hex digits.
    public let id: String
    public let kind: Kind
    /// The `sub`, `jti`, `sid` or session id named.
    public let value: String
    /// Only tokens whose `iat` is earlier (unix seconds) are revoked ("log out everywhere"); a
    /// token without `iat` is revoked too, since it cannot show that it is newer.
    public let issuedBefore: Double?
    /// Unix seconds after which the revocation is dropped.
    public let until: Double
    /// Sent as the close reason (≤ 123 bytes: RFC 6455 §5.5 leaves 123 for it after the code).
    public let reason: String
    /// Unix seconds when it was made.
    public let createdAt: Double
    /// For `.session`: SHA-256 (hex) of the tokens of the sessions it closed, so those tokens are
    /// refused at the handshake too. Never shown by the admin API.
    public let tokenDigests: [String]

    /// Creates a revocation.
    public init(
        id: String, kind: Kind, value: String, issuedBefore: Double? = nil, until: Double, reason: String,
        createdAt: Double, tokenDigests: [String] = []
    ) {
        self.id = id
        self.kind = kind
        self.value = value
        self.issuedBefore = issuedBefore
        self.until = until
        self.reason = reason
        self.createdAt = createdAt
        self.tokenDigests = tokenDigests
    }

    /// The longest close reason: a close frame's payload is at most 125 bytes, two of them the code.
    public static let maxReasonBytes = 123

    /// Whether the revocation covers a token or session with these claims at `now`.
    public func covers(_ info: SessionInfo, now: Double) -> Bool {
        guard now < until else { return false }
        switch kind {
        case .subject:
            guard info.subject == value else { return false }
        case .tokenID:
            guard info.tokenID == value else { return false }
        case .sessionID:
            guard info.sessionID == value else { return false }
        case .session:
            guard info.id == value || info.tokenDigest.map(tokenDigests.contains) == true else { return false }
        }
        if let issuedBefore, let issuedAt = info.issuedAt, issuedAt >= issuedBefore { return false }
        return true
    }

    /// The same revocation (same id) with `digests` added to its token digests and ending at `until`.
    func adding(digests: [String], until: Double) -> Revocation {
        Revocation(
            id: id, kind: kind, value: value, issuedBefore: issuedBefore, until: until, reason: reason, createdAt: createdAt,
            tokenDigests: tokenDigests + digests
        )
    }

    /// The admin API's JSON object: `{"id","sub"|"jti"|"sid"|"session","issued_before","until","reason","created_at"}`.
    public var jsonObject: String {
        var out = JSONObjectWriter()
        out.add("id", id)
        out.add(kind.rawValue, value)
        out.add("issued_before", issuedBefore.map { Int64($0) })
        out.add("until", Int64(until))
        out.add("reason", reason)
        out.add("created_at", Int64(createdAt))
        return out.text
    }
}
