import Atomics
import GatewayAuth
import NIOCore
import NIOSSL

/// Everything a handshake needs, derived once from a configuration: the route table, compiled
/// routes, and the verifier with its parsed keys. Immutable; swapped whole on reload, and each
/// connection keeps the snapshot it was accepted under.
public final class GatewaySnapshot: Sendable {
    /// The configuration this snapshot was built from.
    public let configuration: GatewayConfiguration
    /// Path → route index.
    public let routeTable: RouteTable
    /// Per-route precomputed data, indexed like `configuration.routes`.
    let routes: [CompiledRoute]
    /// The token verifier (keys parsed once).
    public let verifier: JWTVerifier
    /// Every query parameter name that can carry a token (stripped from upstream URIs).
    package let tokenQueryNames: [String]
    /// Every cookie name that can carry a token (stripped from upstream `Cookie` headers).
    package let tokenCookieNames: [String]
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
        self.routeTable = RouteTable(routes: configuration.routes)
        let wanted = Set(configuration.remoteKeySets.map(\.url))
        self.remoteKeys = remoteKeys.filter { wanted.contains($0.key) }
        let remote = self.remoteKeys.sorted { $0.key < $1.key }.flatMap(\.value)
        self.verifier = JWTVerifier(keys: KeySet(configuration.keys.keys + remote), policy: configuration.auth.policy)
        self.routes = configuration.routes.map {
            CompiledRoute(route: $0, defaultSources: configuration.auth.tokenSources, traffic: traffic)
        }
        var queryNames: Set<String> = ["access_token"]
        var cookieNames: Set<String> = []
        for source in configuration.auth.tokenSources + configuration.routes.flatMap({ $0.tokenSources ?? [] }) {
            switch source {
            case .query(let name): queryNames.insert(name)
            case .cookie(let name): cookieNames.insert(name)
            default: break
            }
        }
        self.tokenQueryNames = queryNames.sorted()
        self.tokenCookieNames = cookieNames.sorted()
        self.metricsByRoute = Dictionary(routes.map { ($0.label, $0.metrics) }, uniquingKeysWith: { first, _ in first })
    }

    /// The metric handles for a route label (`nil`: no route matched).
    func metrics(forRoute label: String?) -> RouteMetrics {
        label.flatMap { metricsByRoute[$0] } ?? unmatchedMetrics
    }
}

/// A route with everything the hot path would otherwise recompute per handshake.
package final class CompiledRoute: Sendable {
    package let route: RouteConfiguration
    /// The route's pattern as configured (`/ws/rooms/*`), for logs and metrics.
    package let label: String
    /// Token sources in lookup order.
    let sources: [TokenSource]
    /// Lowercased names of headers the client may not send upstream (claim headers, payload header).
    let spoofableHeaders: Set<String>
    /// Pre-resolved upstream addresses for IP literals (no resolver on the hot path).
    let upstreamAddresses: [SocketAddress?]
    /// TLS contexts of `wss://` upstreams (nil for `ws://`), made with the CA file as it was when
    /// this snapshot was built: a reload picks up a rotated `tls_ca_file`.
    let upstreamTLS: [Result<NIOSSLContext, UpstreamTLS.SetupError>?]
    /// Lowercased allowed origins.
    let allowedOrigins: Set<String>?
    /// This route's metric handles.
    let metrics: RouteMetrics
    /// Round-robin cursor over `route.upstreams`.
    private let cursor = ManagedAtomic<Int>(0)

    init(route: RouteConfiguration, defaultSources: [TokenSource], traffic: TrafficCounters? = nil) {
        self.route = route
        self.label = route.pattern.description
        self.sources = route.tokenSources ?? defaultSources
        var spoofable = Set(route.claimsToHeaders.map { $0.header.lowercased() })
        if let payloadHeader = route.forwardPayloadHeader { spoofable.insert(payloadHeader.lowercased()) }
        self.spoofableHeaders = spoofable
        self.upstreamAddresses = route.upstreams.map { try? SocketAddress(ipAddress: $0.endpoint.host, port: $0.endpoint.port) }
        self.upstreamTLS = route.upstreams.map { $0.secure ? UpstreamTLS.context(for: $0) : nil }
        self.allowedOrigins = route.allowedOrigins.map { Set($0.map { $0.lowercased() }) }
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
