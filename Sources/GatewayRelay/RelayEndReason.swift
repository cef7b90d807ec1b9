/// Why a relayed connection ended: the `end` field of the "connection closed" log line.
///
/// The raw values are what operators grep for and dashboards count; they must not change.
package enum RelayEndReason: String, Sendable, Hashable, CaseIterable {
    /// A close handshake between client and backend, or a TCP close after one.
    case closed
    /// An operator revoked the session (close 4003).
    case revoked
    /// The gateway was draining (close 1001, or the configured drain code).
    case drain
    /// The handshake token expired (the route's expiry close code).
    case tokenExpired = "token_expired"
    /// A token received on the open socket expired.
    case refreshedTokenExpired = "refreshed_token_expired"
    /// No byte either way for `idle_timeout`.
    case idleTimeout = "idle_timeout"
    /// Three keep-alive pings went unanswered.
    case pingTimeout = "ping_timeout"
    /// The client's TCP connection ended without a close frame.
    case clientGone = "client_gone"
    /// The backend's TCP connection ended without a close frame.
    case upstreamGone = "upstream_gone"
    /// A frame or message over `max_frame_bytes` / `max_message_bytes` (close 1009).
    case messageTooBig = "message_too_big"
}
