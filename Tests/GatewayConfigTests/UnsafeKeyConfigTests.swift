import GatewayConfig
import Testing

/// `wsgate check` (ConfigurationLoader) refuses an RSA key with public exponent 1, from a PEM
/// file or inside a JWKS file, as a problem naming the key entry, the key and the exponent.
@Suite struct UnsafeKeyConfigTests {
    /// A 2048-bit modulus with e = 1 (SubjectPublicKeyInfo, DER by hand in
    /// GatewayAuthTests/Fixtures/generate.py): every padded message is its own signature.
    static let exponentOnePEM = """
        -----BEGIN PUBLIC KEY-----
        MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEArhLQAsCHlYB9m5q+Mkom
        QAEGhUlX93GS5sexomzivB8nrOUu5rAgQf0KJh9RchbyT2ukRpKvp7hL8ITQPW7N
        itGO2eKax+MpPZ8dpvGsezbBOYIrzzARM3Ow8eQ2d2IBfaA/X1ya6OPW045M+D3v
        7Lrxidvb8LOgvgbKY9W5TU5x0Dh4T2T39JAVpgaejH5ZATcCcItN5DG7+hjSRyfF
        6d/mDtQ48yuMfth7MCldXu13dPNWvf9QVKZ6YMgtSBQlZxH6kIFTVIYjxSiBv4j6
        2bZ8IDUhvYhX/DJPNPa9xL82GLbd+pN9WAl1hIf7jKPRIldhRgtb1FF2m21aEUOh
        9wIBAQ==
        -----END PUBLIC KEY-----
        """
    /// The same modulus as a JWK, base64url.
    static let modulus = "rhLQAsCHlYB9m5q-MkomQAEGhUlX93GS5sexomzivB8nrOUu5rAgQf0KJh9RchbyT2ukRpKvp7hL8ITQPW7NitGO2eKax-MpPZ8dpvGsezbBOYIrzzARM3Ow8eQ2d2IBfaA_X1ya6OPW045M-D3v7Lrxidvb8LOgvgbKY9W5TU5x0Dh4T2T39JAVpgaejH5ZATcCcItN5DG7-hjSRyfF6d_mDtQ48yuMfth7MCldXu13dPNWvf9QVKZ6YMgtSBQlZxH6kIFTVIYjxSiBv4j62bZ8IDUhvYhX_DJPNPa9xL82GLbd-pN9WAl1hIf7jKPRIldhRgtb1FF2m21aEUOh9w"

    @Test("public_key_file with e = 1: one problem at the key's file, naming the key and the exponent")
    func pemWithExponentOne() {
        let fixture = ConfigFixture()
        fixture.write("weak.pem", Self.exponentOnePEM + "\n")
        let problems = fixture.problems(keysHead + "  - id: rsa-weak\n    algorithms: [RS256]\n    public_key_file: weak.pem")
        guard let problem = single(problems) else { return }
        #expect(problem.path == "keys[0].public_key_file")
        #expect(problem.line == 9)
        #expect(problem.message == "key rsa-weak: RSA public exponent 1 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged")
    }

    @Test("jwks_file holding an e = 1 key beside a good one: the file is refused, naming the bad key")
    func jwksFileWithExponentOne() {
        let fixture = ConfigFixture()
        let jwks = """
            {"keys":[{"kty":"RSA","kid":"good","n":"\(Self.modulus)","e":"AQAB"},{"kty":"RSA","kid":"weak","n":"\(Self.modulus)","e":"AQ"}]}
            """
        fixture.write("jwks.json", jwks)
        let problems = fixture.problems(keysHead + "  - jwks_file: jwks.json")
        guard let problem = single(problems) else { return }
        #expect(problem.path == "keys[0].jwks_file")
        #expect(problem.line == 7)
        #expect(problem.message == "JWKS key #1 (kid weak): RSA public exponent 1 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged")
    }
}
