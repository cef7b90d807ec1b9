/// Why a token was refused; raw values are PRODUCT.md's reason codes.
public enum TokenFailure: String, Sendable, CaseIterable {
    /// Not a well-formed compact JWS with JSON header and claims, or over the size bound.
    case malformed = "token_malformed"
    /// `none`, an unsupported `alg`, or an `alg` the selected key is not bound to (RFC 8725 §3.1).
    case algorithmNotAllowed = "algorithm_not_allowed"
    /// The token names a `kid` no configured key has.
    case unknownKey = "unknown_key"
    /// No candidate key verifies the signature.
    case signatureInvalid = "signature_invalid"
    /// `exp` has passed, beyond the leeway (RFC 7519 §4.1.4).
    case expired = "token_expired"
    /// `nbf` is still ahead, beyond the leeway (RFC 7519 §4.1.5).
    case notYetValid = "token_not_yet_valid"
    /// `iss` is missing or not one of the configured issuers (RFC 7519 §4.1.1).
    case issuerMismatch = "issuer_mismatch"
    /// `aud` is missing or names none of the configured audiences (RFC 7519 §4.1.3).
    case audienceMismatch = "audience_mismatch"
    /// The route's required claims or scopes are not met.
    case claimForbidden = "claim_forbidden"
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
    /// `reason_code: detail`.
    public var description: String { "\(reason.rawValue): \(detail)" }
}
