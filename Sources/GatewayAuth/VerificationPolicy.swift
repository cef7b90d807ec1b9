/// Claim checks shared by all routes.
public struct VerificationPolicy: Sendable {
    /// Accepted `iss` values; empty accepts any (or none) (RFC 7519 §4.1.1).
    public var issuers: [String]
    /// Accepted `aud` values; the token must name at least one (RFC 7519 §4.1.3). Empty skips the check.
    public var audiences: [String]
    /// Clock skew allowed on `exp` and `nbf` (RFC 7519 §4.1.4: "a small leeway").
    public var leewaySeconds: Int64
    /// The largest token accepted, checked before anything is decoded.
    public var maxTokenBytes: Int
    /// A token without `kid` is tried against every key allowing its `alg`, not only the first:
    /// off by default, so a forged kid-less token costs one signature check, not one per key.
    public var tryAllKeys: Bool
    /// Creates a policy.
    public init(issuers: [String] = [], audiences: [String] = [], leewaySeconds: Int64 = 0, maxTokenBytes: Int = 8192, tryAllKeys: Bool = false) {
        self.issuers = issuers; self.audiences = audiences; self.leewaySeconds = leewaySeconds; self.maxTokenBytes = maxTokenBytes
        self.tryAllKeys = tryAllKeys
    }
}
