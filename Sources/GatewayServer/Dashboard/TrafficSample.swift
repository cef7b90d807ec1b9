/// What happened in one second: accepted handshakes and rejections by reason, per route label.
/// Routes with nothing to report are absent.
struct TrafficSample: Sendable, Equatable {
    /// One route's counts in that second.
    struct RouteCounts: Sendable, Equatable {
        /// Handshakes answered with the backend's 101.
        var accepted = 0
        /// Rejections by reason code; only reasons that occurred.
        var rejected: [String: Int] = [:]
    }

    /// The unix second the counts belong to.
    var second: Int64
    /// Counts by route label.
    var routes: [String: RouteCounts] = [:]
}
