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
        // Two valid entries made room; the repeated store of t1 evicted nothing.
        #expect(cache.evictions == 2)
    }

    /// An entry that expired and was dropped at its lookup is not counted as an eviction when its
    /// slot is reused: only valid entries pushed out by a full cache are.
    @Test func aSlotFreedByExpiryIsNoEviction() throws {
        let cache = VerifiedTokenCache(capacity: 1)
        let owner = Owner()
        let short = try Self.verified("short", exp: 10)
        let long = try Self.verified("long", exp: 1000)
        cache.store(short.0, digest: short.1, owner: owner, now: 0)
        #expect(cache.token(digest: short.1, owner: owner, now: 10) == nil)
        cache.store(long.0, digest: long.1, owner: owner, now: 11)
        #expect(cache.evictions == 0)
        cache.store(short.0, digest: "other", owner: owner, now: 0)
        #expect(cache.evictions == 1)
        #expect(cache.hits == 0 && cache.misses == 1)
    }

    @Test func capacityZeroStoresNothing() throws {
        let cache = VerifiedTokenCache(capacity: 0)
        let owner = Owner()
        let (token, digest) = try Self.verified("a", exp: 1000)
        cache.store(token, digest: digest, owner: owner, now: 0)
        #expect(cache.token(digest: digest, owner: owner, now: 1) == nil)
        #expect(cache.count == 0)
    }
}
