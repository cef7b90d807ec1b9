import GatewayAuth
import GatewayHandshake

/// The checks of a token refresh on the open socket (SESSIONS.md), as a pure function: the
/// client's message, what the session was opened with, the route's policy and the time in; a new
/// token or a reason code out. A failed refresh changes nothing.
struct TokenRefresh {
    /// What the gateway answers.
    enum Outcome: Equatable {
        /// The new token passed; the session moves to it.
        case accepted(SessionInfo)
        /// Refused with this reason code (sent as `wsgate.refresh_failed`).
        case refused(String)
    }

    /// Reason codes beyond the handshake's.
    static let messageTooLarge = "message_too_large"
    static let messageMalformed = "message_malformed"
    static let claimsChanged = "claims_changed"

    /// Every result the metric `wsgate_token_refresh_total{result}` can carry.
    static let results: [String] = ["ok", messageTooLarge, messageMalformed, claimsChanged]
        + Rejection.allCases.filter { $0.status == .unauthorized || $0 == .claimForbidden }.map(\.reason)

    let route: CompiledRoute
    let verifier: JWTVerifier
    let maxTokenBytes: Int

    /// Checks `message` (nil: it was over the size bound) against the session `current`, whose
    /// injected claim headers had `headerValues` (in the order of the route's `claims_to_headers`).
    ///
    /// With `cache` (the event loop's verified-token cache and the rules its entries belong to:
    /// the session's, when they are still the gateway's current ones), a token verified before is
    /// answered from it, and a new one that verifies is stored: a client that renewed its token on
    /// the socket and later reconnects with it skips the signature check, as with any token.
    func evaluate(
        message: [UInt8]?, current: SessionInfo, headerValues: [String?], revocations: RevocationSet, now: Double,
        cache: (VerifiedTokenCache, owner: AnyObject)? = nil
    ) -> Outcome {
        guard let message else { return .refused(TokenRefresh.messageTooLarge) }
        guard case .object(let members)? = try? JSONValue(parsing: message), members.count == 2,
              members["type"] == .string("wsgate.refresh"), case .string(let token)? = members["token"] else {
            return .refused(TokenRefresh.messageMalformed)
        }
        guard !token.isEmpty, token.utf8.count <= maxTokenBytes else { return .refused(Rejection.tokenMalformed.reason) }
        let digest = tokenDigest(token)
        let verified: VerifiedToken
        if let cache, let cached = cache.0.token(digest: digest, owner: cache.owner, now: now) {
            verified = cached
        } else {
            do {
                verified = try verifier.verify(token, now: now)
            } catch {
                return .refused(Rejection(error.reason).reason)
            }
            if let cache { cache.0.store(verified, digest: digest, owner: cache.owner, now: now) }
        }
        var next = current
        next.adopt(verified, digest: digest)
        if !revocations.isEmpty, revocations.match(next, now: now) != nil { return .refused(Rejection.tokenRevoked.reason) }
        do {
            try verified.check(route.route.requirements)
        } catch {
            return .refused(Rejection(error.reason).reason)
        }
        // The backend's view of who this is cannot change mid-stream: same issuer, subject and
        // identity-provider session, and the same value for every header the route injects.
        guard next.issuer == current.issuer, next.subject == current.subject,
              current.sessionID == nil || next.sessionID == current.sessionID,
              TokenRefresh.headerValues(of: verified, route: route.route) == headerValues else {
            return .refused(TokenRefresh.claimsChanged)
        }
        return .accepted(next)
    }

    /// The values a token gives the route's injected headers, in `claims_to_headers` order.
    static func headerValues(of token: VerifiedToken, route: RouteConfiguration) -> [String?] {
        route.claimsToHeaders.map { token.headerValue(at: $0.claim) }
    }

    /// `{"type":"wsgate.refreshed","exp":N}` (`exp` left out for a token without one).
    static func refreshedMessage(expiresAt: Double?) -> String {
        var out = JSONObjectWriter()
        out.add("type", "wsgate.refreshed")
        out.add("exp", expiresAt.map { Int64($0) })
        return out.text
    }

    /// `{"type":"wsgate.refresh_failed","reason":"…"}`.
    static func failedMessage(reason: String) -> String {
        "{\"type\":\"wsgate.refresh_failed\",\"reason\":\"\(reason)\"}"
    }

    /// `{"type":"wsgate.token_expiring","exp":N}`.
    static func expiringMessage(expiresAt: Double) -> String {
        "{\"type\":\"wsgate.token_expiring\",\"exp\":\(Int64(expiresAt))}"
    }
}
