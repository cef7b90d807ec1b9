import GatewayAuth
import Testing

/// `TokenSigner` mints what `JWTVerifier` accepts, for every algorithm, from PEM files (PKCS#8
/// and traditional) and from generated keys.
struct SignerRoundTripTests {
    /// Claims for the round trips.
    static let claims: [String: JSONValue] = ["sub": "alice", "exp": 4_102_444_800, "org": ["id": 7]]

    /// Every algorithm signs with a generated key and verifies only with its own key.
    @Test(arguments: JWTAlgorithm.allCases)
    func generatedKeyRoundTrip(_ algorithm: JWTAlgorithm) throws {
        let signer = try TokenSigner.generating(algorithm, kid: "gen")
        let token = try signer.sign(claims: Self.claims)
        let verifier = JWTVerifier(keys: KeySet([try signer.verificationKey()]), policy: VerificationPolicy())
        let verified = try verifier.verify(token, now: 1_900_000_000)
        #expect(verified.algorithm == algorithm)
        #expect(verified.kid == "gen")
        #expect(verified.value(at: "org.id") == 7)
        // A second key pair of the same kind does not verify it.
        let other = try TokenSigner.generating(algorithm, kid: "gen").verificationKey()
        let error = try #require(throws: TokenError.self) {
            try JWTVerifier(keys: KeySet([other]), policy: VerificationPolicy()).verify(token, now: 1_900_000_000)
        }
        #expect(error.reason == .signatureInvalid)
    }

    /// PKCS#8 and traditional PEM private keys sign tokens the fixture verifier accepts.
    @Test(arguments: [
        ("rsa-private.pem", JWTAlgorithm.rs256, "rsa"), ("rsa-private-traditional.pem", .ps384, "rsa"),
        ("rsa-private.pem", .rs512, "rsa"), ("rsa-private.pem", .ps256, "rsa"),
        ("ec256-private.pem", .es256, "ec256"), ("ec256-private-traditional.pem", .es256, "ec256"),
        ("ec384-private.pem", .es384, "ec384"), ("ed25519-private.pem", .edDSA, "ed"),
    ])
    func pemKeysVerifyWithFixturePublicKeys(_ file: String, _ algorithm: JWTAlgorithm, _ kid: String) throws {
        let set = FixtureSet.shared
        let signer = try TokenSigner.privateKey(algorithm, pem: FixtureSet.bytes(file), kid: kid)
        var claims = Self.claims
        claims["iss"] = "https://issuer.example"
        claims["aud"] = "chat"
        let verified = try set.verifier.verify(signer.sign(claims: claims), now: set.now)
        #expect(verified.algorithm == algorithm)
    }

    /// HS256/384/512 with the fixture secret.
    @Test func hmacFromFixtureSecret() throws {
        let set = FixtureSet.shared
        for algorithm in [JWTAlgorithm.hs256, .hs384, .hs512] {
            let signer = try TokenSigner.hmac(algorithm, secret: set.hmacSecret, kid: "hs")
            let token = try signer.sign(claims: ["sub": "alice", "iss": "https://issuer.example", "aud": ["chat"]])
            #expect(try set.verifier.verify(token, now: set.now).algorithm == algorithm)
        }
    }

    /// A signer refuses keys that do not fit its algorithm.
    @Test func signerRefusesMismatchedKeys() throws {
        #expect(throws: KeyError.self) { try TokenSigner.privateKey(.es384, pem: FixtureSet.bytes("ec256-private.pem")) }
        #expect(throws: KeyError.self) { try TokenSigner.privateKey(.rs256, pem: FixtureSet.bytes("ec256-private.pem")) }
        #expect(throws: KeyError.self) { try TokenSigner.privateKey(.hs256, pem: FixtureSet.bytes("rsa-private.pem")) }
        #expect(throws: KeyError.self) { try TokenSigner.privateKey(.rs256, pem: FixtureSet.bytes("rsa-public.pem")) }
        #expect(throws: KeyError.self) { try TokenSigner.hmac(.rs256, secret: Array(repeating: 1, count: 64)) }
    }

    /// The header the signer writes, fingerprints and random bytes.
    @Test func headerShape() throws {
        let signer = try TokenSigner.hmac(.hs256, secret: Array(repeating: 1, count: 32), kid: "main")
        #expect(signer.headerJSON == #"{"alg":"HS256","kid":"main","typ":"JWT"}"#)
        let token = try signer.sign(claims: [:])
        #expect(token.hasPrefix(Base64URL.encode(Array(signer.headerJSON.utf8)) + "."))
        #expect(tokenFingerprint(token).count == 12)
        #expect(tokenFingerprint(token).allSatisfy { "0123456789abcdef".contains($0) })
        // SHA-256("abc") = ba7816bf8f01cfea…
        #expect(tokenFingerprint("abc") == "ba7816bf8f01")
        #expect(tokenDigest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(secureRandomBytes(32).count == 32)
        #expect(secureRandomBytes(32) != secureRandomBytes(32))
    }

    /// Generated keys export PEM that loads back.
    @Test func generatedKeysExportPEM() throws {
        let signer = try TokenSigner.generating(.es384)
        let pub = try #require(signer.publicKeyPEM)
        #expect(String(decoding: pub, as: UTF8.self).hasPrefix("-----BEGIN PUBLIC KEY-----"))
        let priv = try #require(signer.privateKeyPEM)
        let again = try TokenSigner.privateKey(.es384, pem: priv)
        let key = try VerificationKey.publicKey(pem: pub, id: nil, algorithms: [.es384])
        _ = try JWTVerifier(keys: KeySet([key]), policy: VerificationPolicy()).verify(again.sign(claims: [:]), now: 0)
        #expect(try TokenSigner.generating(.hs512).secret?.count == 64)
    }
}
