/// Why a token was refused. The reason codes of PRODUCT.md are spelled once, in GatewayServer's
/// `Rejection`, which maps every case here onto one of its own (`Rejection.init(_:)`).
public enum TokenFailure: Sendable, Hashable, CaseIterable {
    /// Not a well-formed compact JWS with JSON header and claims, or over the size bound.
    case malformed
    /// `none`, an unsupported `alg`, or an `alg` the selected key is not bound to (RFC 8725 §3.1).
    case algorithmNotAllowed
    /// The token names a `kid` no configured key has.
    case unknownKey
    /// No candidate key verifies the signature.
    case signatureInvalid
    /// `exp` has passed, beyond the leeway (RFC 7519 §4.1.4).
    case expired
    /// `nbf` is still ahead, beyond the leeway (RFC 7519 §4.1.5).
    case notYetValid
    /// `iss` is missing or not one of the configured issuers (RFC 7519 §4.1.1).
    case issuerMismatch
    /// `aud` is missing or names none of the configured audiences (RFC 7519 §4.1.3).
    case audienceMismatch
    /// The route's required claims or scopes are not met.
    case claimForbidden
}

/// A refusal with what is known about the token (never the token itself, never a secret).
///
/// `kid` is set once the header has been parsed; `issuer` and `subject` only once the payload has
/// been parsed, which happens only after the signature verified, so they are never attacker
/// chosen values from an unverified token.
public struct TokenError: Error, Sendable, CustomStringConvertible {
    /// The reason code.
    public var reason: TokenFailure
    /// A human explanation ("expired 42 s ago").
    public var detail: String
    /// The header's `kid`, when the header was parsed.
    public var kid: String?
    /// The verified payload's `iss`.
    public var issuer: String?
    /// The verified payload's `sub`.
    public var subject: String?
    /// Creates a refusal.
    public init(_ reason: TokenFailure, _ detail: String, kid: String? = nil, issuer: String? = nil, subject: String? = nil) {
        self.reason = reason; self.detail = detail; self.kid = kid; self.issuer = issuer; self.subject = subject
    }
    /// `failure: detail` (the failure's Swift name; operators see `Rejection`'s reason code).
    public var description: String { "\(reason): \(detail)" }
}
