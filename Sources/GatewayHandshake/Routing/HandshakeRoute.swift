/// A route with what the handshake pipeline would otherwise recompute per request: its label,
/// token sources, the headers a client may not send upstream, its allowed origins. Built once
/// per configuration snapshot.
package struct HandshakeRoute: Sendable {
    /// The route as configured.
    package let route: RouteConfiguration
    /// The route's pattern as configured (`/ws/rooms/*`), for logs and metrics.
    package let label: String
    /// Token sources in lookup order.
    package let sources: [TokenSource]
    /// Lowercased names of headers the client may not send upstream (claim headers, payload
    /// header): only the gateway sets them.
    package let spoofableHeaders: Set<String>
    /// Lowercased allowed origins (origins compare case-insensitively, RFC 6454 §4).
    package let allowedOrigins: Set<String>?

    /// Compiles `route`; `defaultSources` apply when the route names no token sources itself.
    package init(route: RouteConfiguration, defaultSources: [TokenSource]) {
        self.route = route
        self.label = route.pattern.description
        self.sources = route.tokenSources ?? defaultSources
        var spoofable = Set(route.claimsToHeaders.map { $0.header.lowercased() })
        if let payloadHeader = route.forwardPayloadHeader { spoofable.insert(payloadHeader.lowercased()) }
        self.spoofableHeaders = spoofable
        self.allowedOrigins = route.allowedOrigins.map { Set($0.map { $0.lowercased() }) }
    }
}
