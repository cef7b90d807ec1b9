import GatewayAuth
import Testing

/// The per-event-loop verified-token cache: hits, the `exp` edge, the owner (snapshot) swap, the
/// size bound and its eviction order.
struct VerifiedTokenCacheTests {
    /// An owner stands for a configuration snapshot.
    final class Owner {}

    /// A verified HS256 token with `exp` (nil: none) and its digest.
    static func verified(_ sub: String, exp: Int64?) throws -> (VerifiedToken, String) {
        let secret = Array(repeating: UInt8(7), count: 32)
        let signer = try TokenSigner.hmac(.hs256, secret: secret)
        let verifier = JWTVerifier(keys: KeySet([try signer.verificationKey()]), policy: VerificationPolicy())
        var claims: [String: JSONValue] = ["sub": .string(sub)]
        if let exp { claims["exp"] = .integer(exp) }
        let token = try signer.sign(claims: claims)
        return (try verifier.verify(token, now: 0), tokenDigest(token))
    }

    @Test func aStoredTokenIsAHitUntilJustBeforeExp() throws {
        let cache = VerifiedTokenCache(capacity: 4)
        let owner = Owner()
        let (token, digest) = try Self.verified("a", exp: 1000)
        #expect(cache.token(digest: digest, owner: owner, now: 10) == nil)
        cache.store(token, digest: digest, owner: owner, now: 10)
        #expect(cache.token(digest: digest, owner: owner, now: 999.999)?.subject == "a")
        #expect(cache.hits == 1 && cache.misses == 1)
        // RFC 7519 §4.1.4: at exp the token is no longer accepted; the entry is dropped.
        #expect(cache.token(digest: digest, owner: owner, now: 1000) == nil)
        #expect(cache.count == 0)
        #expect(cache.token(digest: digest, owner: owner, now: 10) == nil)
        #expect(cache.hits == 1 && cache.misses == 3)
    }

    @Test func aTokenAtOrPastExpIsNotStored() throws {
        let cache = VerifiedTokenCache(capacity: 4)
        let owner = Owner()
        let (token, digest) = try Self.verified("a", exp: 1000)
        cache.store(token, digest: digest, owner: owner, now: 1000)
        #expect(cache.count == 0)
        // Without exp the verifier accepts it indefinitely, and so does the cache.
        let (forever, foreverDigest) = try Self.verified("b", exp: nil)
        cache.store(forever, digest: foreverDigest, owner: owner, now: 1e12)
        #expect(cache.token(digest: foreverDigest, owner: owner, now: 2e12)?.subject == "b")
    }

    /// Another owner (a reloaded snapshot) empties the cache: nothing verified under the old
    /// keys is answered under the new ones, and a lookup under the old one again misses too.
    @Test func anotherOwnerEmptiesTheCache() throws {
        let cache = VerifiedTokenCache(capacity: 4)
        let old = Owner()
        let new = Owner()
        let (token, digest) = try Self.verified("a", exp: 1000)
        cache.store(token, digest: digest, owner: old, now: 0)
        #expect(cache.token(digest: digest, owner: new, now: 1) == nil)
        #expect(cache.count == 0)
        cache.store(token, digest: digest, owner: new, now: 1)
        #expect(cache.token(digest: digest, owner: old, now: 2) == nil)
        #expect(cache.hits == 0)
    }

    /// Capacity 3: three tokens are held; a fourth evicts the oldest (first in, first out), and
    /// storing a held token again does not take a second slot.
    @Test func theSizeBoundEvictsTheOldest() throws {
        let cache = VerifiedTokenCache(capacity: 3)
        let owner = Owner()
        let tokens = try (0..<5).map { try Self.verified("t\($0)", exp: 1000) }
        for (token, digest) in tokens[0..<3] { cache.store(token, digest: digest, owner: owner, now: 0) }
        cache.store(tokens[1].0, digest: tokens[1].1, owner: owner, now: 0)
        #expect(cache.count == 3)
        for (token, digest) in tokens[0..<3] { #expect(cache.token(digest: digest, owner: owner, now: 1)?.subject == token.subject) }
        cache.store(tokens[3].0, digest: tokens[3].1, owner: owner, now: 0)
        #expect(cache.count == 3)
        #expect(cache.token(digest: tokens[0].1, owner: owner, now: 1) == nil)
        for (token, digest) in tokens[1..<4] { #expect(cache.token(digest: digest, owner: owner, now: 1)?.subject == token.subject) }
        cache.store(tokens[4].0, digest: tokens[4].1, owner: owner, now: 0)
        #expect(cache.count == 3)
        #expect(cache.token(digest: tokens[1].1, owner: owner, now: 1) == nil)
        #expect(cache.token(digest: tokens[4].1, owner: owner, now: 1)?.subject == "t4")
    }

    @Test func capacityZeroStoresNothing() throws {
        let cache = VerifiedTokenCache(capacity: 0)
        let owner = Owner()
        let (token, digest) = try Self.verified("a", exp: 1000)
        cache.store(token, digest: digest, owner: owner, now: 0)
        #expect(cache.token(digest: digest, owner: owner, now: 1) == nil)
        #expect(cache.count == 0)
    }

    // MARK: Sessions' tokens (reconnect storms)

    /// Open sessions' tokens are all answered, however many (the bound is on ended ones).
    @Test func openSessionsTokensAreAllAnswered() throws {
        var cache = SessionTokenSet(minimumKept: 2)
        let owner = Owner()
        let sessions = try (0..<6).map { try Self.verified("s\($0)", exp: 10_000) }
        for (token, digest) in sessions { cache.pin(token, digest: digest, owner: owner, now: 0) }
        for (token, digest) in sessions { #expect(cache.token(digest: digest, owner: owner, now: 2)?.subject == token.subject) }
        #expect(cache.count.open == 6 && cache.count.ended == 0)
    }

    /// A storm: every session of a full gateway ends at once; each token is still answered until
    /// `closedGrace` after its session ended (not at the grace's end), then no more.
    @Test func endedSessionsKeepTheirTokensForTheGrace() throws {
        var cache = SessionTokenSet(minimumKept: 2)
        let owner = Owner()
        let grace = SessionTokenSet.closedGrace
        let sessions = try (0..<50).map { try Self.verified("s\($0)", exp: 10_000) }
        for (token, digest) in sessions { cache.pin(token, digest: digest, owner: owner, now: 100) }
        for (_, digest) in sessions { cache.unpin(digest: digest, owner: owner, now: 200) }
        #expect(cache.count.open == 0 && cache.count.ended == 50)
        for (token, digest) in sessions {
            #expect(cache.token(digest: digest, owner: owner, now: 200 + grace - 0.001)?.subject == token.subject)
        }
        for (_, digest) in sessions { #expect(cache.token(digest: digest, owner: owner, now: 200 + grace) == nil) }
        // The next session's end prunes them.
        let (late, lateDigest) = try Self.verified("late", exp: 10_000)
        cache.pin(late, digest: lateDigest, owner: owner, now: 200 + grace)
        cache.unpin(digest: lateDigest, owner: owner, now: 200 + grace + 1)
        #expect(cache.count.ended == 1)
    }

    /// Few sessions at a time and many tokens (each connection a fresh token): ended sessions'
    /// tokens are bounded by the capacity, the oldest dropped first.
    @Test func fewSessionsWithManyTokensKeepNoMoreThanTheCapacity() throws {
        var cache = SessionTokenSet(minimumKept: 3)
        let owner = Owner()
        let tokens = try (0..<8).map { try Self.verified("t\($0)", exp: 10_000) }
        for (index, (token, digest)) in tokens.enumerated() {
            cache.pin(token, digest: digest, owner: owner, now: Double(index))
            cache.unpin(digest: digest, owner: owner, now: Double(index) + 0.5)
        }
        #expect(cache.count.ended == 3)
        for (index, (_, digest)) in tokens.enumerated() {
            #expect((cache.token(digest: digest, owner: owner, now: 9) != nil) == (index >= 5), "t\(index)")
        }
    }

    /// The bound follows the most sessions open at once in the last two grace periods: a storm
    /// of 10 after a busy period keeps all 10; long after, with 1 session at a time, only the
    /// capacity's worth.
    @Test func theEndedBoundFollowsThePeakOfOpenSessions() throws {
        var cache = SessionTokenSet(minimumKept: 2)
        let owner = Owner()
        let grace = SessionTokenSet.closedGrace
        let busy = try (0..<10).map { try Self.verified("b\($0)", exp: 100_000) }
        for (token, digest) in busy { cache.pin(token, digest: digest, owner: owner, now: 0) }
        // Open for longer than two grace periods, then all end.
        for (_, digest) in busy { cache.unpin(digest: digest, owner: owner, now: 3 * grace) }
        #expect(cache.count.ended == 10)
        let later = try (0..<5).map { try Self.verified("l\($0)", exp: 100_000) }
        for (index, (token, digest)) in later.enumerated() {
            let at = 6 * grace + Double(index)
            cache.pin(token, digest: digest, owner: owner, now: at)
            cache.unpin(digest: digest, owner: owner, now: at + 0.5)
        }
        #expect(cache.count.ended == 2)
    }

    /// Two sessions with one token: it stays open until both ended; an unpin of a digest never
    /// pinned, or under another owner, changes nothing.
    @Test func aTokenSharedBySessionsEndsWithTheLast() throws {
        var cache = SessionTokenSet(minimumKept: 2)
        let owner = Owner()
        let (token, digest) = try Self.verified("a", exp: 10_000)
        let (_, stranger) = try Self.verified("b", exp: 10_000)
        cache.pin(token, digest: digest, owner: owner, now: 0)
        cache.pin(token, digest: digest, owner: owner, now: 0)
        cache.unpin(digest: digest, owner: owner, now: 1)
        cache.unpin(digest: stranger, owner: owner, now: 1)
        cache.unpin(digest: digest, owner: Owner(), now: 1)
        #expect(cache.count.open == 1 && cache.count.ended == 0)
        // Still open long after the first ended.
        #expect(cache.token(digest: digest, owner: owner, now: 1000)?.subject == "a")
        cache.unpin(digest: digest, owner: owner, now: 1000)
        #expect(cache.count.open == 0 && cache.count.ended == 1)
        #expect(cache.token(digest: digest, owner: owner, now: 1000 + SessionTokenSet.closedGrace) == nil)
    }

    /// A session's token is answered until its exp, not after (open or ended), and a token at or
    /// past exp when its session ends is not kept.
    @Test func sessionsTokensEndAtExp() throws {
        var cache = SessionTokenSet(minimumKept: 2)
        let owner = Owner()
        let (open, openDigest) = try Self.verified("open", exp: 500)
        let (ended, endedDigest) = try Self.verified("ended", exp: 520)
        let (late, lateDigest) = try Self.verified("late", exp: 400)
        for (token, digest) in [(open, openDigest), (ended, endedDigest), (late, lateDigest)] {
            cache.pin(token, digest: digest, owner: owner, now: 0)
        }
        cache.unpin(digest: endedDigest, owner: owner, now: 490)
        cache.unpin(digest: lateDigest, owner: owner, now: 400)
        #expect(cache.count.ended == 1)
        #expect(cache.token(digest: openDigest, owner: owner, now: 499.9)?.subject == "open")
        #expect(cache.token(digest: openDigest, owner: owner, now: 500) == nil)
        #expect(cache.token(digest: endedDigest, owner: owner, now: 519.9)?.subject == "ended")
        #expect(cache.token(digest: endedDigest, owner: owner, now: 520) == nil)
        #expect(cache.token(digest: lateDigest, owner: owner, now: 401) == nil)
    }

    /// A reload (another owner) drops sessions' tokens with the rest; sessions opened under the
    /// old snapshot neither pin nor unpin anything afterwards.
    @Test func anotherOwnerDropsSessionsTokens() throws {
        var cache = SessionTokenSet(minimumKept: 2)
        let old = Owner()
        let new = Owner()
        let (token, digest) = try Self.verified("a", exp: 10_000)
        cache.pin(token, digest: digest, owner: old, now: 0)
        #expect(cache.token(digest: digest, owner: new, now: 1) == nil)
        #expect(cache.count.open == 0)
        cache.pin(token, digest: digest, owner: old, now: 2)
        #expect(cache.token(digest: digest, owner: new, now: 3) == nil)
        cache.unpin(digest: digest, owner: old, now: 4)
        #expect(cache.count.open == 0 && cache.count.ended == 0)
    }

    /// The loop's cache asks the shared session tokens on a miss (a reconnect accepted by
    /// another loop) and counts the answer as a hit; with capacity 0 it asks nothing.
    @Test func aCacheMissAsksTheSessionTokens() throws {
        let owner = Owner()
        let (token, digest) = try Self.verified("roaming", exp: 10_000)
        var sessions = SessionTokenSet(minimumKept: 2)
        sessions.pin(token, digest: digest, owner: owner, now: 0)
        let cache = VerifiedTokenCache(capacity: 2)
        var asked = 0
        cache.sessionTokens = { digest, owner, now in
            asked += 1
            return sessions.token(digest: digest, owner: owner, now: now)
        }
        #expect(cache.token(digest: digest, owner: owner, now: 1)?.subject == "roaming")
        #expect(cache.hits == 1 && cache.misses == 0 && asked == 1)
        #expect(cache.token(digest: "0000", owner: owner, now: 1) == nil)
        #expect(cache.misses == 1 && asked == 2)
        let off = VerifiedTokenCache(capacity: 0)
        off.sessionTokens = cache.sessionTokens
        #expect(off.token(digest: digest, owner: owner, now: 1) == nil)
        #expect(asked == 2)
    }
}
