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

    /// A token without kid is tried against every key bound to its alg, in order.
    @Test func withoutKidEveryCandidateIsTried() throws {
        let first = try TokenSigner.generating(.es256)
        let second = try TokenSigner.generating(.es256)
        let keys = KeySet([try first.verificationKey(id: "a"), try second.verificationKey(id: "b")])
        let verifier = JWTVerifier(keys: keys, policy: VerificationPolicy())
        #expect(try verifier.verify(second.sign(claims: ["sub": "2"]), now: 0).subject == "2")
        #expect(try verifier.verify(first.sign(claims: ["sub": "1"]), now: 0).subject == "1")
        let error = try #require(throws: TokenError.self) {
            try verifier.verify(TokenSigner.generating(.es256).sign(claims: [:]), now: 0)
        }
        #expect(error.reason == .signatureInvalid)
        // No key bound to the alg at all.
        let hs = try #require(throws: TokenError.self) { try verifier.verify(Self.pair(kid: nil).0.sign(claims: [:]), now: 0) }
        #expect(hs.reason == .algorithmNotAllowed)
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
