/// Tokens that verified, remembered until their `exp` so that a token presented again (a client
/// reconnecting, a reconnect storm after a restart of the backend) skips the signature check and
/// the claims parse. The precedent is Envoy's `jwt_cache_config`.
///
/// Not thread-safe on purpose: one cache per event loop, used only from that loop's thread, so a
/// lookup takes no lock. Keyed by the token's SHA-256 digest (the gateway computes it for every
/// token anyway; the token itself is not kept). Only successes are stored: a refused token is
/// verified again every time, so a cache can never turn a refusal into an acceptance.
///
/// An entry belongs to one verifier (one configuration snapshot): the first lookup made for
/// another one empties the cache, so a token of a key removed by a reload is refused at once.
/// Entries are bounded by `capacity`; when full, the oldest entry is dropped (first in, first out).
public final class VerifiedTokenCache {
    /// The most entries held.
    public let capacity: Int
    /// Lookups answered from the cache.
    public private(set) var hits = 0
    /// Lookups not answered (absent, expired, or made for another owner).
    public private(set) var misses = 0
    /// Entries dropped to make room for a new one while still valid (a full cache): many of these
    /// with few hits say the cache is smaller than the tokens in use.
    public private(set) var evictions = 0

    private struct Entry {
        let token: VerifiedToken
        /// `exp`, or +infinity for a token without one (the verifier accepts it as long).
        let expiresAt: Double
    }

    private var entries: [String: Entry] = [:]
    /// Keys in insertion order, as a ring: `order[next]` is the oldest once the ring is full.
    private var order: [String] = []
    private var next = 0
    /// The snapshot (or verifier holder) the entries were verified under; held so that its
    /// identity cannot be reused by a new object while entries of the old one remain.
    private var owner: AnyObject?

    /// A cache of at most `capacity` tokens (0: nothing is ever stored).
    public init(capacity: Int) {
        self.capacity = max(0, capacity)
        entries.reserveCapacity(min(self.capacity, 1024))
    }

    /// Entries held now.
    public var count: Int { entries.count }

    /// The verified token for `digest` if it was stored under `owner` and `now` is before its
    /// `exp` (RFC 7519 §4.1.4: at `exp` the token is no longer accepted; what the leeway allows
    /// after it is left to the verifier, which a miss runs again).
    public func token(digest: String, owner: AnyObject, now: Double) -> VerifiedToken? {
        guard capacity > 0 else { return nil }
        if self.owner !== owner {
            reset(owner: owner)
            misses += 1
            return nil
        }
        guard let entry = entries[digest] else {
            misses += 1
            return nil
        }
        guard now < entry.expiresAt else {
            // Left in the ring: its slot is reused in turn; a new store under the same digest
            // only overwrites the entry.
            entries[digest] = nil
            misses += 1
            return nil
        }
        hits += 1
        return entry.token
    }

    /// Remembers a token that just verified under `owner` at `now`. A token already expired is
    /// not stored.
    public func store(_ token: VerifiedToken, digest: String, owner: AnyObject, now: Double) {
        guard capacity > 0 else { return }
        if self.owner !== owner { reset(owner: owner) }
        let expiresAt = token.expiresAt ?? .infinity
        guard now < expiresAt else { return }
        if entries.updateValue(Entry(token: token, expiresAt: expiresAt), forKey: digest) != nil { return }
        if order.count < capacity {
            order.append(digest)
        } else {
            // Full: the oldest slot's key leaves (it may already be gone, expired).
            let oldest = order[next]
            if oldest != digest, entries.removeValue(forKey: oldest) != nil { evictions += 1 }
            order[next] = digest
            next = (next + 1) % capacity
        }
    }

    /// Forgets everything and starts over for `owner`.
    private func reset(owner: AnyObject) {
        self.owner = owner
        entries.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
        next = 0
    }
}
