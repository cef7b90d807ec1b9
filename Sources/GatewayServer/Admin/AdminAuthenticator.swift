import GatewayAuth
import GatewayHandshake

/// Decides whether an admin request may proceed (SESSIONS.md "Admin authentication"): with any
/// method configured, every endpoint but the probes (and `/metrics` when public) needs
/// `Authorization: Bearer` holding either the static admin token or a JWT that the gateway's own
/// keys and policy verify and that grants every required scope.
struct AdminAuthenticator {
    let configuration: AdminConfiguration

    /// The verdict on one request.
    enum Verdict: Equatable {
        case allowed
        /// No bearer credentials (RFC 6750 §3.1: no error code).
        case missing
        /// Credentials that are not valid.
        case invalid
        /// A valid JWT without the required scopes.
        case insufficientScope
    }

    /// Paths that never need credentials: a balancer's or orchestrator's probes.
    static let openPaths: Set<Substring> = ["/healthz", "/readyz"]

    /// Whether `path` needs credentials. The dashboard's static files (`DashboardPage.paths`) are
    /// open: they hold no data, and the page asks for the token before its first data call.
    func requiresCredentials(path: Substring) -> Bool {
        guard configuration.requiresAuthentication else { return false }
        if AdminAuthenticator.openPaths.contains(path) || DashboardPage.paths.contains(path) { return false }
        if path == "/metrics", configuration.publicMetrics { return false }
        return true
    }

    /// Checks the `Authorization` values of a request to `path`.
    func verdict(path: Substring, authorization: [String], verifier: JWTVerifier, now: Double) -> Verdict {
        guard requiresCredentials(path: path) else { return .allowed }
        let tokens = authorization.compactMap { TokenCarriers.bearer(authorization: $0) }
        guard tokens.count == 1, let token = tokens.first.map(String.init) else { return tokens.isEmpty ? .missing : .invalid }
        if let secret = configuration.bearerToken, secretsEqual(token, secret) { return .allowed }
        guard let scopes = configuration.requiredScopes, token.utf8.count <= 16_384 else { return .invalid }
        guard let verified = try? verifier.verify(token, now: now) else { return .invalid }
        let granted = verified.grantedScopes
        return scopes.allSatisfy(granted.contains) ? .allowed : .insufficientScope
    }
}
