/// What the dashboard shows about one remote key set (`GET /api/keys`): when its keys were
/// installed, the last fetch and its error, and when the next fetch is due. Times are unix
/// seconds. The refresher writes it; nothing here is secret (the URL's query is redacted when
/// rendered).
struct RemoteKeySetStatus: Sendable, Equatable {
    /// When the keys serving now were installed (start-up, or the last good fetch).
    var installedAt: Double?
    /// When the last fetch (good or failed) finished.
    var lastAttempt: Double?
    /// Why the last fetch failed; nil after a good one.
    var lastError: String?
    /// When the next fetch is due.
    var nextFetch: Double?
    /// Failed fetches since the last good one.
    var failures = 0
    /// Good fetches by this refresher.
    var fetched = 0
}
