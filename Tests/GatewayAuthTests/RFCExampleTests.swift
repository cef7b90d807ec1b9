import GatewayAuth
import Testing

/// The worked examples of RFC 7515 Appendix A and RFC 8037 Appendix A, verified byte for byte.
/// Their `exp` (1300819380) lies in 2011, so claims are checked with a `now` before it.
struct RFCExampleTests {
    /// 2011-03-13, before the examples' exp.
    static let beforeExpiry: Double = 1_300_000_000

    /// The payload the RFC 7515 examples share: `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`.
    static let payload = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

    /// RFC 7515 Appendix A.1: HS256 with the 64-byte key of A.1.1.
    @Test func rfc7515A1HS256() throws {
        let secret = try #require(Base64URL.decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"))
        let key = try VerificationKey.hmac(secret: secret, id: nil, algorithms: [.hs256])
        let verifier = JWTVerifier(keys: KeySet([key]), policy: VerificationPolicy(issuers: ["joe"]))
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\(Self.payload).dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        let verified = try verifier.verify(token, now: Self.beforeExpiry)
        #expect(verified.algorithm == .hs256)
        #expect(verified.issuer == "joe")
        #expect(verified.expiresAt == 1_300_819_380)
        #expect(verified.claims["http://example.com/is_root"] == .bool(true))
        #expect(verified.value(at: "http://example.com/is_root") == .bool(true))
        #expect(verified.payload == Base64URL.decode(Self.payload))
        // After exp the same token is refused as expired, with a human detail and what is known.
        let error = try #require(throws: TokenError.self) { try verifier.verify(token, now: 1_300_819_422) }
        #expect(error.reason == .expired)
        #expect(error.detail == "expired 42 s ago")
        #expect(error.issuer == "joe")
    }

    /// RFC 7515 Appendix A.2: RS256 with the RSA key of A.2.1, loaded from its JWK.
    @Test func rfc7515A2RS256() throws {
        let jwks = """
            {"keys":[{"kty":"RSA","kid":"rfc7515-a2","alg":"RS256","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}]}
            """
        let keys = try VerificationKey.jwks(json: Array(jwks.utf8), allowed: nil)
        #expect(keys.count == 1)
        #expect(keys[0].algorithms == [.rs256])
        #expect(keys[0].keyDescription == "RSA 2048")
        let token = "eyJhbGciOiJSUzI1NiJ9.\(Self.payload).cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
        let verified = try JWTVerifier(keys: KeySet(keys), policy: VerificationPolicy()).verify(token, now: Self.beforeExpiry)
        #expect(verified.algorithm == .rs256)
        #expect(verified.issuer == "joe")
    }

    /// RFC 7515 Appendix A.3: ES256, the JOSE R‖S signature converted to DER for OpenSSL.
    @Test func rfc7515A3ES256() throws {
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#
        let keys = try VerificationKey.jwks(json: Array(jwks.utf8), allowed: nil)
        #expect(keys.map(\.algorithms) == [[.es256]])
        #expect(keys[0].keyDescription == "EC P-256")
        let token = "eyJhbGciOiJFUzI1NiJ9.\(Self.payload).DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
        let verified = try JWTVerifier(keys: KeySet(keys), policy: VerificationPolicy()).verify(token, now: Self.beforeExpiry)
        #expect(verified.algorithm == .es256)
        #expect(verified.claims["exp"] == .integer(1_300_819_380))
    }

    /// RFC 8037 Appendix A.4: Ed25519. Its payload ("Example of Ed25519 signing") is not JSON,
    /// so the signature layer is checked directly, and the full verifier refuses the token as
    /// malformed only after the signature verified.
    @Test func rfc8037A4Ed25519() throws {
        let jwks = #"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#
        let keys = try VerificationKey.jwks(json: Array(jwks.utf8), allowed: nil)
        #expect(keys.map(\.algorithms) == [[.edDSA]])
        let input = Array("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc".utf8)
        let signature = try #require(Base64URL.decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"))
        #expect(keys[0].verifySignature(signature, over: input, algorithm: .edDSA))
        var tampered = signature
        tampered[0] ^= 1
        #expect(!keys[0].verifySignature(tampered, over: input, algorithm: .edDSA))
        #expect(!keys[0].verifySignature(signature, over: input, algorithm: .es256))

        let token = String(decoding: input, as: UTF8.self) + ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        let error = try #require(throws: TokenError.self) {
            try JWTVerifier(keys: KeySet(keys), policy: VerificationPolicy()).verify(token, now: 0)
        }
        #expect(error.reason == .malformed)
        #expect(error.detail.contains("claims set"))
    }
}
