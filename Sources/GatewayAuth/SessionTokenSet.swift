/// The verified tokens of open sessions, and of sessions that ended less than `closedGrace`
/// seconds ago: what a reconnect storm needs. When every client of a gateway drops at once (a
/// backend restart, a network blip, a drain elsewhere) and reconnects, each finds its token here
/// however many there are, and skips the signature check.
///
/// Their memory is what the sessions held anyway (an entry shares its session's `VerifiedToken`).
/// The ended sessions' tokens kept at once are bounded by the most sessions open at once in the
/// current and the previous grace period, and at least by `minimumKept`: a gateway with few
/// sessions at a time and many fresh tokens keeps no more than `minimumKept` of them.
///
/// A value type without locking: the gateway keeps one for all its event loops behind a lock (a
/// client reconnects on whichever loop accepts it). Entries belong to one owner (configuration
/// snapshot); another owner's `token` lookup empties the set, and sessions of an older owner
/// neither pin nor unpin.
public struct SessionTokenSet {
    /// Tokens of ended sessions are kept this long for a reconnect, in seconds.
    public static let closedGrace: Double = 60

    private struct Entry {
        let token: VerifiedToken
        let expiresAt: Double
    }

    /// The least number of ended sessions' tokens kept, whatever the peak of open sessions.
    public let minimumKept: Int
    private var owner: AnyObject?
    /// Tokens of open sessions, with how many sessions hold each.
    private var open: [String: (entry: Entry, sessions: Int)] = [:]
    /// Sessions open now (the sum of `open`'s counts).
    private var openSessions = 0
    /// Tokens of ended sessions, with the time they ended.
    private var ended: [String: (entry: Entry, endedAt: Double)] = [:]
    /// `ended`'s keys in the order they ended, from `endedHead` on (compacted now and then).
    private var endedOrder: [(digest: String, endedAt: Double)] = []
    private var endedHead = 0
    /// The most sessions open at once in the current and the previous grace period, and when
    /// the current one began.
    private var peakSessions = (current: 0, previous: 0)
    private var peakSince = -Double.infinity

    public init(minimumKept: Int) {
        self.minimumKept = max(0, minimumKept)
    }

    /// Entries held for open and for ended sessions.
    public var count: (open: Int, ended: Int) { (open.count, ended.count) }

    /// The token of an open or recently ended session verified under `owner`, before its `exp`.
    public mutating func token(digest: String, owner: AnyObject, now: Double) -> VerifiedToken? {
        if self.owner !== owner {
            reset(owner: owner)
            return nil
        }
        if let held = open[digest], now < held.entry.expiresAt { return held.entry.token }
        if let kept = ended[digest], now < kept.entry.expiresAt, now < kept.endedAt + Self.closedGrace {
            return kept.entry.token
        }
        return nil
    }

    /// A session verified under `owner` opened with `token`.
    public mutating func pin(_ token: VerifiedToken, digest: String, owner: AnyObject, now: Double) {
        if self.owner == nil { reset(owner: owner) }
        guard self.owner === owner else { return }
        if var held = open[digest] {
            held.sessions += 1
            open[digest] = held
        } else {
            open[digest] = (Entry(token: token, expiresAt: token.expiresAt ?? .infinity), 1)
        }
        openSessions += 1
        notePeak(now: now)
    }

    /// A session that pinned `digest` under `owner` ended: the token is kept `closedGrace`
    /// seconds more (not past its `exp`).
    public mutating func unpin(digest: String, owner: AnyObject, now: Double) {
        guard self.owner === owner, var held = open[digest] else { return }
        notePeak(now: now)
        openSessions -= 1
        held.sessions -= 1
        if held.sessions > 0 {
            open[digest] = held
        } else {
            open[digest] = nil
            if now < held.entry.expiresAt {
                ended[digest] = (held.entry, now)
                endedOrder.append((digest, now))
            }
        }
        pruneEnded(now: now)
    }

    /// Notes the sessions open now in the current grace period's peak (called after a session
    /// opened and before one ends, so the peak includes the moment before a storm of ends).
    /// Periods begin at the first event after the previous one is over; a period without any
    /// event had as many sessions open as there are now.
    private mutating func notePeak(now: Double) {
        if now >= peakSince + 2 * Self.closedGrace {
            peakSessions = (openSessions, openSessions)
            peakSince = now
        } else if now >= peakSince + Self.closedGrace {
            peakSessions = (openSessions, peakSessions.current)
            peakSince = now
        }
        peakSessions.current = max(peakSessions.current, openSessions)
    }

    /// Drops ended sessions' tokens past the grace, and the oldest beyond the bound.
    private mutating func pruneEnded(now: Double) {
        let bound = max(minimumKept, peakSessions.current, peakSessions.previous)
        while endedHead < endedOrder.count {
            let (digest, endedAt) = endedOrder[endedHead]
            // A record whose token ended again later, or was dropped, only advances the head.
            let current = ended[digest]?.endedAt == endedAt
            guard !current || endedAt + Self.closedGrace <= now || ended.count > bound else { break }
            if current { ended[digest] = nil }
            endedHead += 1
        }
        if endedHead > 1024, endedHead * 2 > endedOrder.count {
            endedOrder.removeFirst(endedHead)
            endedHead = 0
        }
    }

    private mutating func reset(owner: AnyObject) {
        self.owner = owner
        open.removeAll()
        openSessions = 0
        ended.removeAll()
        endedOrder.removeAll()
        endedHead = 0
        peakSessions = (0, 0)
        peakSince = -Double.infinity
    }
}

/// `@unchecked Sendable` is safe because the owner is only ever compared by identity (`===`),
/// never dereferenced, and every other stored value is Sendable; the gateway shares the set
/// between threads only behind a lock.
extension SessionTokenSet: @unchecked Sendable {}
