/// How long revocations last when the request does not say (SESSIONS.md).
public struct RevocationSettings: Sendable {
    /// A `sub` or `sid` revocation, and a `jti`/`session` one whose token's `exp` is unknown
    /// (`revocation.default_ttl`, default 24h).
    public var defaultTTLSeconds: Double

    /// Creates the settings.
    public init(defaultTTLSeconds: Double = 86_400) {
        self.defaultTTLSeconds = defaultTTLSeconds
    }
}
