/// Several gateway instances sharing revocations through PostgreSQL (`cluster:`, SESSIONS.md).
public struct ClusterConfiguration: Sendable, Equatable {
    /// Where the shared tables are (read from `url_env` or `url_file`, never from the config text).
    public var postgres: PostgresURL
    /// This instance's name in session listings and the instance table; nil: host and first port.
    public var instance: String?
    /// How often the revocation table is polled by id watermark beside LISTEN/NOTIFY, and the
    /// instance's heartbeat written.
    public var pollIntervalSeconds: Double
    /// When > 0: after PostgreSQL has been unreachable this long, new handshakes are refused
    /// `503 cluster_unavailable`. 0: keep serving on the revocations already known.
    public var staleAfterSeconds: Double
    /// The admin URL other instances use to reach this one (`GET /sessions?cluster=1`); nil:
    /// `http://` and the admin listener's address (its host name when bound to all addresses).
    public var adminURL: String?
    /// Whether to LISTEN for notifications (a testing knob, `WSGATE_CLUSTER_NOTIFY=off`: the
    /// watermark poll alone carries revocations, for measuring it).
    public var listens: Bool

    /// Creates a cluster configuration.
    public init(
        postgres: PostgresURL, instance: String? = nil, pollIntervalSeconds: Double = 1, staleAfterSeconds: Double = 0,
        adminURL: String? = nil, listens: Bool = true
    ) {
        self.postgres = postgres
        self.instance = instance
        self.pollIntervalSeconds = pollIntervalSeconds
        self.staleAfterSeconds = staleAfterSeconds
        self.adminURL = adminURL
        self.listens = listens
    }

    /// How long an instance may miss heartbeats before listings skip it: three polls, but never
    /// under 10 s, so one slow poll or a short pause (GC in a VM, a busy host) does not drop it.
    public var instanceAgeOutSeconds: Double { max(3 * pollIntervalSeconds, 10) }
}
