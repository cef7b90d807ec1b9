import Foundation

/// What `POST /sessions/revoke` did.
public struct RevokeOutcome: Sendable {
    /// The revocation now in force.
    public let revocation: Revocation
    /// Live sessions of this instance that were told to close.
    public let closed: Int
    /// Set when the revocation is in force but could not be saved to `state_dir`.
    public let saveProblem: String?
}

extension Gateway {
    /// The live sessions that `query` selects, oldest first, at most `query.limit`, and how many
    /// matched in all.
    public func sessions(_ query: SessionQuery) -> (count: Int, sessions: [SessionInfo]) {
        let matched = runtime.registry.sessions(where: query.includes).map(\.info)
            .sorted { ($0.openedAt, $0.id) < ($1.openedAt, $1.id) }
        return (matched.count, Array(matched.prefix(query.limit)))
    }

    /// This instance's name in session listings.
    public var instanceName: String { runtime.instance.withLockedValue { $0 } }

    /// Revokes what `request` names: the revocation is in force for new handshakes first, then
    /// every matching live session is told to close with 4003 at its next frame boundary.
    ///
    /// Without `until`, a `sub`/`sid` revocation lasts `revocation.default_ttl`; a `jti` or
    /// `session` one lasts until the latest `exp` among the sessions it closes (the token cannot
    /// be used after that anyway), or `default_ttl` when no live session shows it.
    public func revoke(_ request: RevokeRequest) -> RevokeOutcome {
        let now = runtime.now
        let ttl = runtime.snapshot.configuration.revocation.defaultTTLSeconds
        let provisional = Revocation(
            id: RevocationID.make(), kind: request.kind, value: request.value, issuedBefore: request.issuedBefore,
            until: request.until ?? now + ttl, reason: request.reason ?? RevokeRequest.defaultReason, createdAt: now
        )
        // In force before the sweep: a session that registers after the sweep checks the store.
        _ = runtime.revocations.add(provisional, now: now, save: false)
        let matched = runtime.registry.sessions { provisional.covers($0, now: now) }
        var until = provisional.until
        if request.until == nil, request.kind == .tokenID || request.kind == .session {
            let expiries = matched.compactMap(\.info.expiresAt)
            if let latest = expiries.max(), expiries.count == matched.count, latest > now { until = latest }
        }
        let revocation = Revocation(
            id: provisional.id, kind: provisional.kind, value: provisional.value, issuedBefore: provisional.issuedBefore,
            until: until, reason: provisional.reason, createdAt: now,
            tokenDigests: request.kind == .session ? matched.compactMap(\.info.tokenDigest) : []
        )
        let problem = runtime.revocations.add(revocation, now: now, save: true)
        for (session, _) in matched { session.revoke(reason: revocation.reason) }
        runtime.logger.notice("revocation added", metadata: [
            "revocation": "\(revocation.id)", "kind": "\(revocation.kind.rawValue)", "closed": "\(matched.count)",
            "until": "\(Int64(revocation.until))",
        ])
        return RevokeOutcome(revocation: revocation, closed: matched.count, saveProblem: problem)
    }

    /// The active revocations, oldest first.
    public var revocations: [Revocation] {
        runtime.revocations.removeExpired(now: runtime.now)
        return runtime.revocations.current.all
    }

    /// Lifts a revocation; nil when none has that id.
    public func liftRevocation(id: String) -> (revocation: Revocation, saveProblem: String?)? {
        guard let (revocation, problem) = runtime.revocations.lift(id: id) else { return nil }
        runtime.logger.notice("revocation lifted", metadata: ["revocation": "\(revocation.id)"])
        return (revocation, problem)
    }
}
