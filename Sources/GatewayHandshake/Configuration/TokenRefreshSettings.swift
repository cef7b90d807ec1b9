import NIOCore

/// A route's `token_refresh:` (SESSIONS.md): clients send `{"type":"wsgate.refresh","token":…}`
/// on the open socket; the gateway warns them before `exp` and closes after `exp` + `grace`.
public struct TokenRefreshSettings: Sendable, Hashable {
    /// Send `{"type":"wsgate.token_expiring","exp":N}` this long before `exp` (0: never).
    public var notifyBefore: TimeAmount
    /// How long after `exp` the connection stays open (for a refresh in flight).
    public var grace: TimeAmount

    /// Creates the settings.
    public init(notifyBefore: TimeAmount = .seconds(60), grace: TimeAmount = .seconds(25)) {
        self.notifyBefore = notifyBefore
        self.grace = grace
    }
}
