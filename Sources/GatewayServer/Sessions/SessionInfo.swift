import GatewayAuth
import GatewayText

/// What the operator sees of one live (relayed) session, and what revocations are matched
/// against. A value: the registry hands out copies, so readers on other threads never touch the
/// session itself.
public struct SessionInfo: Sendable, Equatable {
    /// The handshake's request id (32 hex digits unless the client sent a sane `X-Request-Id`),
    /// also sent upstream as `X-Request-Id`. Held packed (see `PackedHex`).
    public var id: String { packedID.text }
    private let packedID: PackedHex
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
    public var issuedAt: Double? {
        get { storedIssuedAt == SessionInfo.none ? nil : storedIssuedAt }
        set { storedIssuedAt = newValue ?? SessionInfo.none }
    }
    /// The current token's `exp` (moves on a successful refresh).
    public var expiresAt: Double? {
        get { storedExpiresAt == SessionInfo.none ? nil : storedExpiresAt }
        set { storedExpiresAt = newValue ?? SessionInfo.none }
    }
    // −∞ for none: `Double?` is 9 bytes and 16 aligned, and the two pushed the shared record one
    // 16-byte malloc chunk up. A claim is never −∞ (JSON has no infinities; jansson refuses a
    // number that overflows a double).
    private static let none = -Double.infinity
    private var storedIssuedAt = SessionInfo.none
    private var storedExpiresAt = SessionInfo.none
    /// SHA-256 of the current token (hex), so revoking this session refuses its token. Held as 32
    /// bytes and spelled in hex when asked (revocations, rarely): as a string it was a 112-byte
    /// allocation held by every open session.
    public var tokenDigest: String? {
        get { digest?.text }
        set { digest = newValue.map(PackedHex.init) }
    }
    private var digest: PackedHex?

    /// Creates the description of a session.
    public init(
        id: String, route: String, client: String, openedAt: Double, subject: String? = nil, issuer: String? = nil,
        tokenID: String? = nil, sessionID: String? = nil, issuedAt: Double? = nil, expiresAt: Double? = nil,
        tokenDigest: String? = nil
    ) {
        self.packedID = PackedHex(id)
        self.route = route
        self.client = client
        self.openedAt = openedAt
        self.subject = subject
        self.issuer = issuer
        self.tokenID = tokenID
        self.sessionID = sessionID
        self.storedIssuedAt = issuedAt ?? SessionInfo.none
        self.storedExpiresAt = expiresAt ?? SessionInfo.none
        self.digest = tokenDigest.map(PackedHex.init)
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

/// A string of lowercase hex digits as `SessionInfo` keeps it: 32 digits (the gateway's request
/// ids) or 64 (SHA-256 token digests) packed into two or four words, so an open session holds no
/// allocation for them; any other text (a client's own `X-Request-Id`) kept as it is.
private enum PackedHex: Sendable, Equatable {
    case two(UInt64, UInt64)
    case four(UInt64, UInt64, UInt64, UInt64)
    case text(String)

    init(_ text: String) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var word: UInt64 = 0
        var count = 0
        for byte in text.utf8 {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            default:
                self = .text(text)
                return
            }
            word = word << 4 | UInt64(nibble)
            count += 1
            if count % 16 == 0 {
                switch count / 16 {
                case 1: words.0 = word
                case 2: words.1 = word
                case 3: words.2 = word
                default: words.3 = word
                }
                word = 0
            }
        }
        switch count {
        case 32: self = .two(words.0, words.1)
        case 64: self = .four(words.0, words.1, words.2, words.3)
        default: self = .text(text)
        }
    }

    var text: String {
        switch self {
        case .text(let text): return text
        case .two(let a, let b): return HexText.lowercase(words: a, b)
        case .four(let a, let b, let c, let d): return HexText.lowercase(words: a, b, c, d)
        }
    }
}
