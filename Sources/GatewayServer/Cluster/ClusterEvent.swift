import GatewayHandshake
/// One row of `wsgate_revocation_events`: a revocation made, or (`lifted`) lifted, on some instance.
public struct ClusterEvent: Sendable, Equatable {
    /// The row's `bigserial` id: the order every instance applies events in.
    public let eventID: Int64
    /// The revocation (for a lift, the one lifted; its `until` bounds how long the lift is kept).
    public let revocation: Revocation
    /// Whether this event lifts `revocation.id`.
    public let lifted: Bool

    /// Creates an event.
    public init(eventID: Int64, revocation: Revocation, lifted: Bool) {
        self.eventID = eventID
        self.revocation = revocation
        self.lifted = lifted
    }
}
