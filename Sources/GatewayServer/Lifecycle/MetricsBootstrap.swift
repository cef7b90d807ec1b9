import Metrics
import Prometheus

/// The Prometheus backend for swift-metrics.
public enum MetricsBootstrap {
    /// Bootstraps swift-metrics with a Prometheus registry and returns it. swift-metrics allows
    /// one bootstrap per process: the CLI calls this once; tests make a bare registry instead.
    public static func prometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // The gateway records seconds (handshake and upstream-connect durations).
        let seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        factory.valueHistogramBuckets["wsgate_handshake_duration_seconds"] = seconds
        factory.valueHistogramBuckets["wsgate_upstream_connect_duration_seconds"] = seconds
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
