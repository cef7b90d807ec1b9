import GatewayAuth
import NIOHTTP1

/// Every way a handshake can be refused. Each case has exactly one HTTP status and one stable
/// reason code (PRODUCT.md's pipeline table); the responder, the rejection log, the metrics and
/// `wsgate rejections` all go through this type, so they cannot drift apart.
public enum Rejection: Sendable, Hashable, CaseIterable {
    case headersTooLarge
    case handshakeTimeout
    /// The path is ambiguous to backends (encoded slash, backslash, NUL, climbs above the root).
    case badPath
    case routeNotFound
    case methodNotAllowed
    case badHandshake
    case unsupportedVersion
    case originForbidden
    case connectionLimit
    case rateLimited
    /// `cluster.stale_after` is set and PostgreSQL has been unreachable at least that long: the
    /// revocations this instance knows may be out of date (SESSIONS.md).
    case clusterUnavailable
    case tokenMissing
    case tokenMalformed
    case tokenConflict
    case algorithmNotAllowed
    case unknownKey
    case signatureInvalid
    case tokenExpired
    case tokenNotYetValid
    /// The token matches an active revocation (SESSIONS.md).
    case tokenRevoked
    case issuerMismatch
    case audienceMismatch
    case claimForbidden
    case upstreamUnavailable
    case upstreamTimeout
    /// The backend answered something other than 101; the client gets the backend's status.
    case upstreamRefused

    /// The stable snake_case reason code.
    public var reason: String {
        switch self {
        case .headersTooLarge: "headers_too_large"
        case .handshakeTimeout: "handshake_timeout"
        case .badPath: "bad_path"
        case .routeNotFound: "route_not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .badHandshake: "bad_handshake"
        case .unsupportedVersion: "unsupported_version"
        case .originForbidden: "origin_forbidden"
        case .connectionLimit: "connection_limit"
        case .rateLimited: "rate_limited"
        case .clusterUnavailable: "cluster_unavailable"
        case .tokenMissing: "token_missing"
        case .tokenMalformed: "token_malformed"
        case .tokenConflict: "token_conflict"
        case .algorithmNotAllowed: "algorithm_not_allowed"
        case .unknownKey: "unknown_key"
        case .signatureInvalid: "signature_invalid"
        case .tokenExpired: "token_expired"
        case .tokenNotYetValid: "token_not_yet_valid"
        case .tokenRevoked: "token_revoked"
        case .issuerMismatch: "issuer_mismatch"
        case .audienceMismatch: "audience_mismatch"
        case .claimForbidden: "claim_forbidden"
        case .upstreamUnavailable: "upstream_unavailable"
        case .upstreamTimeout: "upstream_timeout"
        case .upstreamRefused: "upstream_refused"
        }
    }

    /// The HTTP status (for `upstreamRefused`, the default when the backend's is unknown).
    public var status: HTTPResponseStatus {
        switch self {
        case .headersTooLarge: .requestHeaderFieldsTooLarge
        case .handshakeTimeout: .requestTimeout
        case .badPath: .badRequest
        case .routeNotFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .badHandshake: .badRequest
        case .unsupportedVersion: .upgradeRequired
        case .originForbidden: .forbidden
        case .connectionLimit: .serviceUnavailable
        case .rateLimited: .tooManyRequests
        case .clusterUnavailable: .serviceUnavailable
        case .tokenMissing, .tokenMalformed, .tokenConflict, .algorithmNotAllowed, .unknownKey,
             .signatureInvalid, .tokenExpired, .tokenNotYetValid, .tokenRevoked, .issuerMismatch, .audienceMismatch:
            .unauthorized
        case .claimForbidden: .forbidden
        case .upstreamUnavailable: .badGateway
        case .upstreamTimeout: .gatewayTimeout
        case .upstreamRefused: .badGateway
        }
    }

    /// The rejection for a reason code, for readers of the log.
    public init?(reason: String) {
        guard let match = Rejection.allCases.first(where: { $0.reason == reason }) else { return nil }
        self = match
    }

    /// The rejection for a token verification failure: the one place a `TokenFailure` gets its
    /// reason code and status (exhaustive, so a new failure cannot go unmapped).
    public init(_ failure: TokenFailure) {
        switch failure {
        case .malformed: self = .tokenMalformed
        case .algorithmNotAllowed: self = .algorithmNotAllowed
        case .unknownKey: self = .unknownKey
        case .signatureInvalid: self = .signatureInvalid
        case .expired: self = .tokenExpired
        case .notYetValid: self = .tokenNotYetValid
        case .issuerMismatch: self = .issuerMismatch
        case .audienceMismatch: self = .audienceMismatch
        case .claimForbidden: self = .claimForbidden
        }
    }

    /// Whether the 401 answers a token the client presented (RFC 6750 §3.1 `invalid_token`).
    package var isInvalidToken: Bool {
        status == .unauthorized && self != .tokenMissing
    }
}

/// What is known about a rejected handshake, for the response, the log line and the metrics.
public struct RejectionContext: Sendable {
    /// The route's configured pattern, when a route matched.
    public var route: String?
    /// The request path without its query string.
    public var path: String?
    /// The client address (`ip:port`).
    public var client: String?
    /// A human explanation (never a token or secret).
    public var detail: String?
    /// The token's `kid`, `iss`, `sub`, when known.
    public var kid: String?
    public var issuer: String?
    public var subject: String?
    /// First 12 hex digits of the token's SHA-256.
    public var tokenFingerprint: String?
    /// The request's id (`X-Request-Id` when the client sent a sane one, else generated).
    public var requestID: String?
    /// For `upstreamRefused`: the backend's status.
    public var upstreamStatus: Int?

    /// Creates an empty context.
    public init(route: String? = nil, path: String? = nil, client: String? = nil, detail: String? = nil) {
        self.route = route
        self.path = path
        self.client = client
        self.detail = detail
    }
}
