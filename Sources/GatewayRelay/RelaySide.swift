/// One of the two channels of a relayed WebSocket connection.
package enum RelaySide: Sendable, Hashable {
    /// The WebSocket client; the gateway is its server.
    case client
    /// The backend; the gateway is its client, so frames toward it are masked (RFC 6455 §5.3).
    case upstream

    /// The side across the relay.
    package var other: RelaySide {
        self == .client ? .upstream : .client
    }
}
