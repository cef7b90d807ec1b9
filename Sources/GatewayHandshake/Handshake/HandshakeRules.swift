import GatewayAuth

/// What every handshake decision of one configuration is made against: the route table, the
/// compiled routes, the verifier with its parsed keys, and every name a token can be carried
/// under. Immutable; the server builds one per configuration snapshot and swaps it whole on reload.
/// A class, so a planner made per handshake holds one reference, not copies of the tables.
package final class HandshakeRules: Sendable {
    /// Path → route index.
    package let routeTable: RouteTable
    /// Per-route precomputed data, indexed like the configuration's routes.
    package let routes: [HandshakeRoute]
    /// The token verifier (keys parsed once).
    package let verifier: JWTVerifier
    /// Every query parameter name that can carry a token (stripped from upstream URIs).
    package let tokenQueryNames: [String]
    /// Every cookie name that can carry a token (stripped from upstream `Cookie` headers).
    package let tokenCookieNames: [String]

    /// The rules for `configuration`, verifying with `verifier` (the configured keys plus any
    /// fetched remote ones).
    package init(configuration: GatewayConfiguration, verifier: JWTVerifier) {
        self.routeTable = RouteTable(routes: configuration.routes)
        self.verifier = verifier
        self.routes = configuration.routes.map {
            HandshakeRoute(route: $0, defaultSources: configuration.auth.tokenSources)
        }
        // `access_token` is always stripped: RFC 6750 §2.3 names it, and a backend must never
        // see a token in its URI whether or not this gateway reads it there.
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
    }

    /// The rules for `configuration` verifying with its configured keys only.
    package convenience init(configuration: GatewayConfiguration) {
        self.init(
            configuration: configuration,
            verifier: JWTVerifier(keys: configuration.keys, policy: configuration.auth.policy)
        )
    }
}
