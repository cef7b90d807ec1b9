/// One row of `wsgate_instances`: a running gateway, where its admin API is, its last heartbeat.
public struct ClusterInstance: Sendable, Equatable {
    /// `cluster.instance` (default: host name and first listener port).
    public let name: String
    /// Where other instances ask for its sessions (`GET /sessions`); nil without an admin listener.
    public let adminURL: String?
    /// Unix seconds.
    public let startedAt: Double
    /// Unix seconds of its last heartbeat, by PostgreSQL's clock.
    public let heartbeatAt: Double

    /// Creates an instance row.
    public init(name: String, adminURL: String?, startedAt: Double, heartbeatAt: Double) {
        self.name = name
        self.adminURL = adminURL
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
    }

    /// Whether the instance counts as running at `now` (PostgreSQL's clock): its heartbeat is
    /// younger than `ageOut` (`ClusterConfiguration.instanceAgeOutSeconds`). An instance killed
    /// without a chance to remove its row ages out this way.
    public func isLive(now: Double, ageOut: Double) -> Bool {
        now - heartbeatAt < ageOut
    }
}
