import Foundation
import GatewayHandshake

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
    ///
    /// In a cluster the revocation is written to PostgreSQL first (every instance applies it
    /// from there); when that fails nothing changes here either, and the error says why.
    public func revoke(_ request: RevokeRequest) async throws(ClusterUnavailable) -> RevokeOutcome {
        let revocation = prepare(request, now: runtime.now)
        if let cluster = runtime.cluster {
            try await cluster.publish(revocation, lifted: false, instance: instanceName)
        }
        let (closed, problem) = enforce(revocation, now: runtime.now, save: true)
        return RevokeOutcome(revocation: revocation, closed: closed, saveProblem: problem)
    }

    /// The revocation `request` asks for at `now`: its id, and its end (see `revoke`). A `session`
    /// revocation carries the digests of the tokens of the sessions it names, so those tokens are
    /// refused at the handshake too.
    func prepare(_ request: RevokeRequest, now: Double) -> Revocation {
        let ttl = runtime.snapshot.configuration.revocation.defaultTTLSeconds
        let provisional = Revocation(
            id: RevocationID.make(), kind: request.kind, value: request.value, issuedBefore: request.issuedBefore,
            until: request.until ?? now + ttl, reason: request.reason ?? RevokeRequest.defaultReason, createdAt: now
        )
        let matched = runtime.registry.sessions { provisional.covers($0, now: now) }
        var until = provisional.until
        if request.until == nil, request.kind == .tokenID || request.kind == .session {
            let expiries = matched.compactMap(\.info.expiresAt)
            if let latest = expiries.max(), expiries.count == matched.count, latest > now { until = latest }
        }
        return Revocation(
            id: provisional.id, kind: provisional.kind, value: provisional.value, issuedBefore: provisional.issuedBefore,
            until: until, reason: provisional.reason, createdAt: now,
            tokenDigests: request.kind == .session ? matched.compactMap(\.info.tokenDigest) : []
        )
    }

    /// Puts a revocation in force here, whether this instance made it or another one did (the
    /// cluster's events): first in the store, so a session registering from now on is refused,
    /// then a sweep of the live sessions, so one that registered before is closed with 4003.
    /// Returns how many sessions were told to close, and a `state_dir` problem if any.
    @discardableResult
    func enforce(_ revocation: Revocation, now: Double, save: Bool) -> (closed: Int, saveProblem: String?) {
        let problem = runtime.revocations.add(revocation, now: now, save: save)
        let matched = runtime.registry.sessions { revocation.covers($0, now: now) }
        for (session, _) in matched { session.revoke(reason: revocation.reason) }
        runtime.logger.notice("revocation added", metadata: [
            "revocation": "\(revocation.id)", "kind": "\(revocation.kind.rawValue)", "closed": "\(matched.count)",
            "until": "\(Int64(revocation.until))",
        ])
        return (matched.count, problem)
    }

    /// Carries out what the cluster's event table says (another instance's revocations and lifts).
    func carryOut(_ actions: [ClusterEventLog.Action]) {
        let now = runtime.now
        for action in actions {
            switch action {
            case .enforce(let event):
                // An amendment adds digests to what is in force: the union is kept, whichever
                // instances' additions arrived first.
                var revocation = event
                if let known = runtime.revocations.current.byID[event.id], event.kind == .session {
                    let extra = known.tokenDigests.filter { !event.tokenDigests.contains($0) }
                    if !extra.isEmpty { revocation = event.adding(digests: extra, until: max(event.until, known.until)) }
                }
                enforce(revocation, now: now, save: false)
                amendWithLocalDigests(revocation, now: now)
            case .lift(let id):
                if runtime.revocations.lift(id: id) != nil {
                    runtime.logger.notice("revocation lifted", metadata: ["revocation": "\(id)"])
                }
            }
        }
    }

    /// A `session` revocation made on another instance names the session by id only: the tokens
    /// are known where the sessions live. This instance, holding a session it names, adds its
    /// token digest and writes the revocation again (same id: a lift still lifts it all), so
    /// every instance refuses that token from then on, as SESSIONS.md promises of a revocation.
    func amendWithLocalDigests(_ revocation: Revocation, now: Double) {
        guard revocation.kind == .session, let cluster = runtime.cluster else { return }
        let matched = runtime.registry.sessions { $0.id == revocation.value }
        let added = matched.compactMap(\.info.tokenDigest).filter { !revocation.tokenDigests.contains($0) }
        guard !added.isEmpty else { return }
        // The token stays refused as long as it could be used.
        let until = max(revocation.until, matched.compactMap(\.info.expiresAt).max() ?? revocation.until)
        let amended = revocation.adding(digests: added, until: until)
        runtime.revocations.add(amended, now: now, save: false)
        let instance = instanceName
        let logger = runtime.logger
        Task {
            do {
                try await cluster.publish(amended, lifted: false, instance: instance, amendment: true)
                logger.notice("revocation amended with token digests", metadata: ["revocation": "\(amended.id)", "digests": "\(added.count)"])
            } catch {
                logger.error("cluster: could not write the token digests of a session revocation; other instances refuse its token only by other revocations",
                             metadata: ["revocation": "\(amended.id)", "problem": "\((error as? ClusterUnavailable)?.reason ?? "\(error)")"])
            }
        }
    }

    /// The active revocations, oldest first.
    public var revocations: [Revocation] {
        runtime.revocations.removeExpired(now: runtime.now)
        return runtime.revocations.current.all
    }

    /// Lifts a revocation; nil when none has that id. In a cluster the lift is written to
    /// PostgreSQL first, as an event of its own, so every instance lifts it too.
    public func liftRevocation(id: String) async throws(ClusterUnavailable) -> (revocation: Revocation, saveProblem: String?)? {
        if let cluster = runtime.cluster {
            guard let revocation = runtime.revocations.current.byID[id] else { return nil }
            try await cluster.publish(revocation, lifted: true, instance: instanceName)
        }
        guard let (revocation, problem) = runtime.revocations.lift(id: id) else { return nil }
        runtime.logger.notice("revocation lifted", metadata: ["revocation": "\(revocation.id)"])
        return (revocation, problem)
    }
}
