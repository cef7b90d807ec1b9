/// The tables several instances share (SESSIONS.md "The cluster"), versioned so a later release
/// can migrate: `wsgate_schema` holds one row per applied version.
///
/// - `wsgate_revocation_events`: the truth. One row per revocation and one per lift (`lifted`,
///   same `revocation_id`): a lift must reach instances that are down or disconnected when it is
///   made, so it is an event with a newer `event_id`, never a delete. Instances apply rows in
///   `event_id` order from a watermark; NOTIFY on `wsgate_revocations` only wakes them.
/// - `wsgate_instances`: who is running, where its admin API is, its last heartbeat.
public enum ClusterSchema {
    /// The version this release writes and reads.
    public static let version = 1

    /// The NOTIFY channel (its payload is the new `event_id`, a hint only).
    public static let channel = "wsgate_revocations"

    /// Advisory lock keys (`pg_try_advisory_xact_lock`): schema creation, and the pruning of
    /// expired rows that one instance at a time does. Arbitrary, fixed numbers ("wsgate" in ASCII).
    static let schemaLock: Int64 = 0x7773_6761_7465_0001
    static let pruneLock: Int64 = 0x7773_6761_7465_0002

    /// The statements that create version 1, each idempotent; run in one transaction under the
    /// schema lock, so two instances starting together do not race on `CREATE TABLE`.
    public static let statements: [String] = [
        """
        CREATE TABLE IF NOT EXISTS wsgate_schema (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS wsgate_revocation_events (
            event_id bigserial PRIMARY KEY,
            revocation_id text NOT NULL,
            lifted boolean NOT NULL DEFAULT false,
            kind text NOT NULL,
            value text NOT NULL,
            issued_before double precision,
            until double precision NOT NULL,
            reason text NOT NULL,
            created_at double precision NOT NULL,
            token_digests text NOT NULL DEFAULT '',
            instance text NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS wsgate_revocation_events_until ON wsgate_revocation_events (until)",
        """
        CREATE TABLE IF NOT EXISTS wsgate_instances (
            name text PRIMARY KEY,
            admin_url text,
            started_at double precision NOT NULL,
            heartbeat_at double precision NOT NULL
        )
        """,
        "INSERT INTO wsgate_schema (version) VALUES (1) ON CONFLICT (version) DO NOTHING",
    ]

    /// What `wsgate cluster schema` prints: the whole script, for operators who create schemas
    /// themselves (the gateway then finds version 1 and creates nothing).
    public static var script: String {
        var out = "-- wsgate cluster schema, version \(version)\nBEGIN;\n"
        for statement in statements { out += statement + ";\n" }
        return out + "COMMIT;\n"
    }
}
