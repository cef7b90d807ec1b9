import Atomics
import GatewayAuth
import GatewayHandshake
import NIOCore
import NIOSSL

/// Everything a handshake needs, derived once from a configuration: the route table, compiled
/// routes, and the verifier with its parsed keys. Immutable; swapped whole on reload, and each
/// connection keeps the snapshot it was accepted under.
public final class GatewaySnapshot: Sendable {
    /// The configuration this snapshot was built from.
    public let configuration: GatewayConfiguration
    /// What the handshake pipeline decides against: route table, verifier, token carriers.
    package let handshake: HandshakeRules
    /// Path → route index.
    public var routeTable: RouteTable { handshake.routeTable }
    /// Per-route precomputed data, indexed like `configuration.routes`.
    let routes: [CompiledRoute]
    /// The token verifier (keys parsed once).
    public var verifier: JWTVerifier { handshake.verifier }
    /// Every query parameter name that can carry a token (stripped from upstream URIs).
    package var tokenQueryNames: [String] { handshake.tokenQueryNames }
    /// Every cookie name that can carry a token (stripped from upstream `Cookie` headers).
    package var tokenCookieNames: [String] { handshake.tokenCookieNames }
    /// Metric handles by route label, and for requests that matched no route (`-`).
    private let metricsByRoute: [String: RouteMetrics]
    private let unmatchedMetrics: RouteMetrics

    /// Keys fetched from `remoteKeySets`, by URL, as of this snapshot.
    public let remoteKeys: [String: [VerificationKey]]

    /// Builds a snapshot: the configured keys plus the current remote ones.
    public convenience init(configuration: GatewayConfiguration, remoteKeys: [String: [VerificationKey]] = [:]) {
        self.init(configuration: configuration, remoteKeys: remoteKeys, traffic: nil)
    }

    /// Builds a snapshot whose routes count into `traffic` (the running gateway's dashboard
    /// counters, which outlive snapshots); nil counts into nothing anyone reads.
    init(configuration: GatewayConfiguration, remoteKeys: [String: [VerificationKey]], traffic: TrafficCounters?) {
        self.configuration = configuration
        self.unmatchedMetrics = RouteMetrics(route: "-", traffic: traffic?.route("-") ?? TrafficCounters.Route())
        let wanted = Set(configuration.remoteKeySets.map(\.url))
        self.remoteKeys = remoteKeys.filter { wanted.contains($0.key) }
        let remote = self.remoteKeys.sorted { $0.key < $1.key }.flatMap(\.value)
        let verifier = JWTVerifier(keys: KeySet(configuration.keys.keys + remote), policy: configuration.auth.policy)
        self.handshake = HandshakeRules(configuration: configuration, verifier: verifier)
        self.routes = handshake.routes.map { CompiledRoute($0, traffic: traffic) }
        self.metricsByRoute = Dictionary(routes.map { ($0.label, $0.metrics) }, uniquingKeysWith: { first, _ in first })
    }

    /// The metric handles for a route label (`nil`: no route matched).
    func metrics(forRoute label: String?) -> RouteMetrics {
        label.flatMap { metricsByRoute[$0] } ?? unmatchedMetrics
    }
}

/// A route with everything the hot path would otherwise recompute per handshake: the handshake
/// pipeline's part (`HandshakeRoute`) and the server's (addresses, metrics, round robin).
package final class CompiledRoute: Sendable {
    /// The route as configured.
    package var route: RouteConfiguration { handshake.route }
    /// The route's pattern as configured (`/ws/rooms/*`), for logs and metrics.
    package var label: String { handshake.label }
    /// What the handshake pipeline precomputed for this route.
    package let handshake: HandshakeRoute
    /// Pre-resolved upstream addresses for IP literals (no resolver on the hot path).
    let upstreamAddresses: [SocketAddress?]
    /// TLS contexts of `wss://` upstreams (nil for `ws://`), made with the CA file as it was when
    /// this snapshot was built: a reload picks up a rotated `tls_ca_file`.
    let upstreamTLS: [Result<NIOSSLContext, UpstreamTLS.SetupError>?]
    /// This route's metric handles.
    let metrics: RouteMetrics
    /// Round-robin cursor over `route.upstreams`.
    private let cursor = ManagedAtomic<Int>(0)

    init(_ handshake: HandshakeRoute, traffic: TrafficCounters? = nil) {
        self.handshake = handshake
        let route = handshake.route
        let label = handshake.label
        self.upstreamAddresses = route.upstreams.map { try? SocketAddress(ipAddress: $0.endpoint.host, port: $0.endpoint.port) }
        self.upstreamTLS = route.upstreams.map { $0.secure ? UpstreamTLS.context(for: $0) : nil }
        self.metrics = RouteMetrics(route: label, traffic: traffic?.route(label) ?? TrafficCounters.Route())
    }

    /// The upstream indices in the order to try them for one connection (round robin start).
    func upstreamOrder() -> [Int] {
        let count = route.upstreams.count
        guard count > 1 else { return count == 1 ? [0] : [] }
        let start = cursor.loadThenWrappingIncrement(ordering: .relaxed) % count
        return (0..<count).map { (start + $0) % count }
    }
}
