import GatewayAuth
import Testing

/// Tokens minted by `TokenSigner` verify with the matching `VerificationKey`.
struct SignerRoundTripTests {
    /// HS256 sign then verify, with a kid.
    @Test func hs256RoundTrip() throws {
        let secret = secureRandomBytes(32)
        let signer = try TokenSigner.hmac(.hs256, secret: secret, kid: "hs-main")
        let token = try signer.sign(claims: ["sub": "alice", "exp": 4_102_444_800, "org": ["id": 7]])
        let key = try VerificationKey.hmac(secret: secret, id: "hs-main", algorithms: [.hs256])
        let verified = try JWTVerifier(keys: KeySet([key]), policy: VerificationPolicy()).verify(token, now: 1_800_000_000)
        #expect(verified.subject == "alice")
        #expect(verified.kid == "hs-main")
        #expect(verified.value(at: "org.id") == .integer(7))
        #expect(verified.headerValue(at: "org.id") == "7")
        #expect(tokenFingerprint(token).count == 12)
    }
}
