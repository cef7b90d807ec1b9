import Metrics

/// The metric names of PRODUCT.md, recorded through swift-metrics (the process bootstraps the
/// Prometheus backend; without one these are no-ops). Called per handshake and per connection
/// close, never per frame: relays count frames locally and report them once at close.
final class GatewayMetrics: Sendable {
    /// Creates the metrics facade.
    init() {}

    func rejected(route: String, reason: String) {
        Counter(label: "wsgate_rejections_total", dimensions: [("route", route), ("reason", reason)]).increment()
        Counter(label: "wsgate_handshakes_total", dimensions: [("route", route), ("result", "rejected")]).increment()
    }

    func accepted(route: String, handshakeSeconds: Double, upstreamConnectSeconds: Double) {
        Counter(label: "wsgate_handshakes_total", dimensions: [("route", route), ("result", "accepted")]).increment()
        Recorder(label: "wsgate_handshake_duration_seconds").record(handshakeSeconds)
        Recorder(label: "wsgate_upstream_connect_duration_seconds").record(upstreamConnectSeconds)
    }

    func connectionOpened(route: String) {
        Meter(label: "wsgate_connections_active", dimensions: [("route", route)]).increment()
    }

    func connectionClosed(route: String, framesIn: UInt64, framesOut: UInt64, bytesIn: UInt64, bytesOut: UInt64) {
        Meter(label: "wsgate_connections_active", dimensions: [("route", route)]).decrement()
        Counter(label: "wsgate_frames_total", dimensions: [("route", route), ("direction", "client_to_upstream")]).increment(by: Int64(clamping: framesIn))
        Counter(label: "wsgate_frames_total", dimensions: [("route", route), ("direction", "upstream_to_client")]).increment(by: Int64(clamping: framesOut))
        Counter(label: "wsgate_bytes_total", dimensions: [("route", route), ("direction", "client_to_upstream")]).increment(by: Int64(clamping: bytesIn))
        Counter(label: "wsgate_bytes_total", dimensions: [("route", route), ("direction", "upstream_to_client")]).increment(by: Int64(clamping: bytesOut))
    }

    func jwksRefresh(result: String) {
        Counter(label: "wsgate_jwks_refresh_total", dimensions: [("result", result)]).increment()
    }
}
