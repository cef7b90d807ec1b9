import GatewayAuth
import Testing

/// The worked examples of RFC 7515 Appendix A and RFC 8037 Appendix A, verified byte for byte.
/// Their `exp` (1300819380) lies in 2011, so claims are checked with a `now` before it.
struct RFCExampleTests {
    /// 2011-03-22, before the examples' exp.
    static let before2011Expiry: Double = 1_300_000_000

    /// RFC 7515 Appendix A.1: HS256.
    @Test func rfc7515A1HS256() throws {
        let secret = try #require(Base64URL.decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"))
        let key = try VerificationKey.hmac(secret: secret, id: nil, algorithms: [.hs256])
        let verifier = JWTVerifier(keys: KeySet([key]), policy: VerificationPolicy())
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        let verified = try verifier.verify(token, now: Self.before2011Expiry)
        #expect(verified.algorithm == .hs256)
        #expect(verified.issuer == "joe")
        #expect(verified.expiresAt == 1_300_819_380)
        #expect(verified.claims["http://example.com/is_root"] == .bool(true))
        #expect(verified.value(at: "http://example.com/is_root") == .bool(true))
        // After exp the same token is refused as expired, not as anything else.
        #expect(throws: TokenError.self) { try verifier.verify(token, now: 1_300_819_381) }
        do {
            _ = try verifier.verify(token, now: 1_300_819_422)
        } catch {
            #expect(error.reason == .expired)
            #expect(error.detail == "expired 42 s ago")
            #expect(error.issuer == "joe")
        }
    }
}
