import GatewayAuth
import GatewayHandshake
import Metrics

/// The process-wide metrics of PRODUCT.md, recorded through swift-metrics (the process bootstraps
/// the Prometheus backend; without one these are no-ops). Handles are made once, here and per
/// route in `RouteMetrics`, never per handshake; relays count frames locally and report once at close.
final class GatewayMetrics: Sendable {
    private let handshakeDuration = Recorder(label: "wsgate_handshake_duration_seconds")
    private let upstreamConnectDuration = Recorder(label: "wsgate_upstream_connect_duration_seconds")
    /// `wsgate_jwks_refresh_total` by result: a refresh ends `ok` or `error`, nothing else.
    private let jwksRefreshes = [
        "ok": Counter(label: "wsgate_jwks_refresh_total", dimensions: [("result", "ok")]),
        "error": Counter(label: "wsgate_jwks_refresh_total", dimensions: [("result", "error")]),
    ]

    /// `wsgate_token_cache_lookups_total` by result (`hit`, `miss`) and
    /// `wsgate_token_cache_evictions_total`: all event loops' verified-token caches together, so
    /// an operator can size `auth.token_cache_size` (a low hit ratio with evictions: too small).
    private let tokenCacheHits = Counter(label: "wsgate_token_cache_lookups_total", dimensions: [("result", "hit")])
    private let tokenCacheMisses = Counter(label: "wsgate_token_cache_lookups_total", dimensions: [("result", "miss")])
    private let tokenCacheEvictions = Counter(label: "wsgate_token_cache_evictions_total")

    /// Creates the metrics facade.
    init() {}

    /// Runs `body` (a handshake's or a refresh's token check) and exports what it did to `cache`,
    /// an event loop's: the cache counts on its loop without atomics, the counters get the
    /// difference.
    func countingTokenCache<Result>(_ cache: VerifiedTokenCache?, _ body: () throws -> Result) rethrows -> Result {
        guard let cache else { return try body() }
        let before = (hits: cache.hits, misses: cache.misses, evictions: cache.evictions)
        defer {
            let hits = cache.hits - before.hits, misses = cache.misses - before.misses, evictions = cache.evictions - before.evictions
            if hits > 0 { tokenCacheHits.increment(by: hits) }
            if misses > 0 { tokenCacheMisses.increment(by: misses) }
            if evictions > 0 { tokenCacheEvictions.increment(by: evictions) }
        }
        return try body()
    }

    func handshakeDurations(handshakeSeconds: Double, upstreamConnectSeconds: Double) {
        handshakeDuration.record(handshakeSeconds)
        upstreamConnectDuration.record(upstreamConnectSeconds)
    }

    /// One refresh of a remote key set ended with `result` (`ok` or `error`).
    func jwksRefresh(result: String) {
        jwksRefreshes[result]?.increment()
    }
}

/// One route's metric handles (`route` label), made when a snapshot is built.
final class RouteMetrics: Sendable {
    private let accepted: Counter
    private let rejectedHandshakes: Counter
    private let rejections: [Rejection: Counter]
    private let active: Meter
    private let framesIn: Counter
    private let framesOut: Counter
    private let bytesIn: Counter
    private let bytesOut: Counter
    private let revoked: Counter
    private let refreshResults: [String: Counter]
    /// The dashboard's counters for this label (shared by every snapshot naming the route).
    let traffic: TrafficCounters.Route

    /// Handles for the route labelled `route` (`-` for requests that matched none); `traffic` is
    /// the label's dashboard counters (fresh, unsampled ones when the snapshot has none).
    init(route: String, traffic: TrafficCounters.Route = TrafficCounters.Route()) {
        self.traffic = traffic
        accepted = Counter(label: "wsgate_handshakes_total", dimensions: [("route", route), ("result", "accepted")])
        rejectedHandshakes = Counter(label: "wsgate_handshakes_total", dimensions: [("route", route), ("result", "rejected")])
        var byReason: [Rejection: Counter] = [:]
        for rejection in Rejection.allCases {
            byReason[rejection] = Counter(label: "wsgate_rejections_total", dimensions: [("route", route), ("reason", rejection.reason)])
        }
        rejections = byReason
        active = Meter(label: "wsgate_connections_active", dimensions: [("route", route)])
        framesIn = Counter(label: "wsgate_frames_total", dimensions: [("route", route), ("direction", "client_to_upstream")])
        framesOut = Counter(label: "wsgate_frames_total", dimensions: [("route", route), ("direction", "upstream_to_client")])
        bytesIn = Counter(label: "wsgate_bytes_total", dimensions: [("route", route), ("direction", "client_to_upstream")])
        bytesOut = Counter(label: "wsgate_bytes_total", dimensions: [("route", route), ("direction", "upstream_to_client")])
        revoked = Counter(label: "wsgate_sessions_revoked_total", dimensions: [("route", route)])
        var refresh: [String: Counter] = [:]
        for result in TokenRefresh.results {
            refresh[result] = Counter(label: "wsgate_token_refresh_total", dimensions: [("route", route), ("result", result)])
        }
        refreshResults = refresh
    }

    /// One token refresh on an open socket ended with `result` (`ok` or a reason code).
    func tokenRefresh(result: String) {
        refreshResults[result]?.increment()
    }

    /// A live session was closed by a revocation.
    func sessionRevoked() {
        revoked.increment()
    }

    func rejected(_ rejection: Rejection) {
        rejections[rejection]?.increment()
        rejectedHandshakes.increment()
        traffic.reject(rejection)
    }

    func acceptedHandshake() {
        accepted.increment()
        traffic.accepted.wrappingIncrement(ordering: .relaxed)
    }

    func connectionOpened() {
        active.increment()
        traffic.open.wrappingIncrement(ordering: .relaxed)
    }

    func connectionClosed(framesIn: UInt64, framesOut: UInt64, bytesIn: UInt64, bytesOut: UInt64) {
        active.decrement()
        traffic.open.wrappingDecrement(ordering: .relaxed)
        self.framesIn.increment(by: Int64(clamping: framesIn))
        self.framesOut.increment(by: Int64(clamping: framesOut))
        self.bytesIn.increment(by: Int64(clamping: bytesIn))
        self.bytesOut.increment(by: Int64(clamping: bytesOut))
    }
}
