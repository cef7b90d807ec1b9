import GatewayAuth
import Testing

/// Tokens minted by PyJWT and joserfc, for every algorithm, verify with keys loaded from PEM
/// (SubjectPublicKeyInfo) and JWKS.
struct InteropTests {
    /// Every interop token verifies, and its claims read back exactly.
    @Test(arguments: FixtureSet.shared.interop)
    func verifies(_ interop: InteropToken) throws {
        let set = FixtureSet.shared
        let verified = try set.verifier.verify(interop.token, now: set.now)
        #expect(verified.algorithm.rawValue == interop.algorithm)
        #expect(verified.subject == "alice")
        #expect(verified.issuer == "https://issuer.example")
        #expect(verified.expiresAt == 4_102_444_800)
        #expect(verified.value(at: "org.tier.name") == "gold")
        #expect(verified.claims["roles"] == ["reader", "writer"])
    }

    /// Every algorithm is covered by both libraries.
    @Test func coversEveryAlgorithm() {
        let interop = FixtureSet.shared.interop
        for library in ["pyjwt", "joserfc"] {
            let algorithms = Set(interop.filter { $0.library == library }.map(\.algorithm))
            #expect(algorithms == Set(JWTAlgorithm.allCases.map(\.rawValue)), "\(library)")
        }
    }

    /// A token signed by one RSA key does not verify under another RSA key given the same kid.
    @Test func otherKeyOfSameTypeFails() throws {
        let set = FixtureSet.shared
        let impostor = try VerificationKey.publicKey(pem: FixtureSet.bytes("rsa-public.pem"), id: "jwks-rsa", algorithms: [.rs256])
        let error = try #require(throws: TokenError.self) {
            try JWTVerifier(keys: KeySet([impostor]), policy: set.policy).verify(TokenFixture.jwksKeyValid.token, now: set.now)
        }
        #expect(error.reason == .signatureInvalid)
        #expect(error.kid == "jwks-rsa")
    }
}
