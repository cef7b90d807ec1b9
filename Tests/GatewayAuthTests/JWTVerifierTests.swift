import GatewayAuth
import Testing

/// Verifier behaviour beyond the fixture table: the header cache, the byte-buffer entry point,
/// key choice without a kid.
struct JWTVerifierTests {
    /// A verifier and signer sharing one HS256 secret.
    static func pair(kid: String? = "k") throws -> (TokenSigner, JWTVerifier) {
        let secret = Array(repeating: UInt8(9), count: 32)
        let signer = try TokenSigner.hmac(.hs256, secret: secret, kid: kid)
        let key = try VerificationKey.hmac(secret: secret, id: "k", algorithms: [.hs256])
        return (signer, JWTVerifier(keys: KeySet([key]), policy: VerificationPolicy()))
    }

    /// Cached headers give the same outcome as parsing: more distinct headers than the cache
    /// holds, each verified twice, and a cached header on a token whose signature fails.
    @Test func headerCacheNeverChangesOutcomes() throws {
        let (signer, verifier) = try Self.pair()
        for round in 0..<2 {
            for index in 0..<40 {
                let header = Array(#"{"alg":"HS256","kid":"k","n":\#(index)}"#.utf8)
                let token = try signer.sign(headerJSON: header, payloadJSON: Array(#"{"sub":"s\#(index)"}"#.utf8))
                #expect(try verifier.verify(token, now: 0).subject == "s\(index)", "round \(round)")
                let forged = String(token.dropLast(4)) + "AAAA"
                let error = try #require(throws: TokenError.self) { try verifier.verify(forged, now: 0) }
                #expect(error.reason == .signatureInvalid)
                #expect(error.kid == "k")
            }
        }
        // A header refused once is refused again (refusals are never cached as successes).
        let crit = try signer.sign(headerJSON: Array(#"{"alg":"HS256","kid":"k","crit":["x"]}"#.utf8), payloadJSON: Array("{}".utf8))
        for _ in 0..<2 {
            #expect(throws: TokenError.self) { try verifier.verify(crit, now: 0) }
        }
    }

    /// `verify(utf8:)` takes the token's bytes directly.
    @Test func verifiesBytes() throws {
        let (signer, verifier) = try Self.pair()
        let token = Array(try signer.sign(claims: ["sub": "bytes"]).utf8)
        let verified = try token.withUnsafeBytes { bytes in try verifier.verify(utf8: bytes, now: 0) }
        #expect(verified.subject == "bytes")
    }

    /// Non-ASCII in a token is simply not base64url.
    @Test func nonASCIITokenIsMalformed() throws {
        let (_, verifier) = try Self.pair()
        let error = try #require(throws: TokenError.self) { try verifier.verify("é.é.é", now: 0) }
        #expect(error.reason == .malformed)
    }

    /// With `tryAllKeys`, a token without kid is tried against every key bound to its alg, in order.
    @Test func withoutKidEveryCandidateIsTriedWhenAsked() throws {
        let first = try TokenSigner.generating(.es256)
        let second = try TokenSigner.generating(.es256)
        let keys = KeySet([try first.verificationKey(id: "a"), try second.verificationKey(id: "b")])
        let verifier = JWTVerifier(keys: keys, policy: VerificationPolicy(tryAllKeys: true))
        #expect(try verifier.verify(second.sign(claims: ["sub": "2"]), now: 0).subject == "2")
        #expect(try verifier.verify(first.sign(claims: ["sub": "1"]), now: 0).subject == "1")
        let error = try #require(throws: TokenError.self) {
            try verifier.verify(TokenSigner.generating(.es256).sign(claims: [:]), now: 0)
        }
        #expect(error.reason == .signatureInvalid)
        #expect(error.detail == "the ES256 signature does not verify")
        // No key bound to the alg at all.
        let hs = try #require(throws: TokenError.self) { try verifier.verify(Self.pair(kid: nil).0.sign(claims: [:]), now: 0) }
        #expect(hs.reason == .algorithmNotAllowed)
    }

    /// By default a token without kid is checked against the first key allowing its alg only
    /// (a forged one costs one signature check, not one per key): three RS256 keys, a kid-less
    /// token signed by key 1 verifies, by key 2 or 3 it is refused with the exact reason; a kid
    /// still selects any of them. Keys of another alg do not count as the first.
    @Test func withoutKidOnlyTheFirstKeyOfTheAlgIsTried() throws {
        let signers = try (0..<3).map { _ in try TokenSigner.generating(.rs256) }
        let hmac = try VerificationKey.hmac(secret: Array(repeating: 1, count: 32), id: "h", algorithms: [.hs256])
        let keys = KeySet([hmac] + (try signers.enumerated().map { try $1.verificationKey(id: "k\($0 + 1)") }))
        let verifier = JWTVerifier(keys: keys, policy: VerificationPolicy())
        #expect(try verifier.verify(signers[0].sign(claims: ["sub": "1"]), now: 0).subject == "1")
        for index in 1..<3 {
            let error = try #require(throws: TokenError.self) { try verifier.verify(signers[index].sign(claims: ["sub": "x"]), now: 0) }
            #expect(error.reason == .signatureInvalid)
            #expect(error.kid == nil)
            #expect(error.detail == #"the RS256 signature does not verify with key "k1", the first key allowed RS256; a token without kid is checked against that key only (auth.try_all_keys)"#)
            // The same key named by kid verifies.
            let named = try TokenSigner.privateKey(.rs256, pem: #require(signers[index].privateKeyPEM), kid: "k\(index + 1)")
            #expect(try verifier.verify(named.sign(claims: ["sub": "k"]), now: 0).subject == "k")
        }
        // try_all_keys restores the search: key 3 verifies.
        let all = JWTVerifier(keys: keys, policy: VerificationPolicy(tryAllKeys: true))
        #expect(try all.verify(signers[2].sign(claims: ["sub": "3"]), now: 0).subject == "3")
    }

    /// An empty key set knows no kid and allows no alg.
    @Test func emptyKeySet() throws {
        let verifier = JWTVerifier(keys: KeySet([]), policy: VerificationPolicy())
        let (signer, _) = try Self.pair()
        #expect(throws: TokenError.self) { try verifier.verify(signer.sign(claims: [:]), now: 0) }
        let error = try #require(throws: TokenError.self) { try verifier.verify(signer.sign(claims: [:]), now: 0) }
        #expect(error.reason == .unknownKey)
    }
}
