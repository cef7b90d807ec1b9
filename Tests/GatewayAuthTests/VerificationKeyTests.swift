import GatewayAuth
import Testing

/// Loading keys: PEM SubjectPublicKeyInfo and certificates, JWKS, HMAC secrets, and every way a
/// key can be refused for an algorithm it must never verify.
struct VerificationKeyTests {
    /// PEM SubjectPublicKeyInfo and X.509 certificates of each supported key type load.
    @Test(arguments: [
        ("rsa-public.pem", "RSA 2048", [JWTAlgorithm.rs256, .ps512]),
        ("rsa-cert.pem", "RSA 2048", [.rs384]),
        ("rsa-public-pkcs1.pem", "RSA 2048", [.rs256, .ps256]),
        ("ec256-public.pem", "EC P-256", [.es256]),
        ("ec256-cert.pem", "EC P-256", [.es256]),
        ("ec384-public.pem", "EC P-384", [.es384]),
        ("ed25519-public.pem", "Ed25519", [.edDSA]),
        ("ed25519-cert.pem", "Ed25519", [.edDSA]),
    ])
    func loadsPEM(_ file: String, _ summary: String, _ algorithms: [JWTAlgorithm]) throws {
        let key = try VerificationKey.publicKey(pem: FixtureSet.bytes(file), id: "k", algorithms: Set(algorithms))
        #expect(key.keyDescription == summary)
        #expect(key.algorithms == Set(algorithms))
        #expect(key.id == "k")
    }

    /// A certificate's key, and a PKCS#1 public key, verify tokens signed with the matching private key.
    @Test func certificateKeyVerifies() throws {
        let set = FixtureSet.shared
        let token = try #require(set.interop.first { $0.library == "joserfc" && $0.algorithm == "RS256" })
        for file in ["rsa-cert.pem", "rsa-public-pkcs1.pem"] {
            let key = try VerificationKey.publicKey(pem: FixtureSet.bytes(file), id: "rsa", algorithms: [.rs256])
            let verified = try JWTVerifier(keys: KeySet([key]), policy: set.policy).verify(token.token, now: set.now)
            #expect(verified.subject == "alice")
        }
    }

    /// A key is refused for an algorithm of another family or curve, and RSA under 2048 bits (RFC 7518 §3.3).
    @Test(arguments: [
        ("rsa-public.pem", JWTAlgorithm.hs256, "cannot verify HS256"),
        ("rsa-public.pem", .es256, "cannot verify ES256"),
        ("rsa-cert.pem", .edDSA, "cannot verify EdDSA"),
        ("ec256-public.pem", .es384, "needs P-384"),
        ("ec384-public.pem", .es256, "needs P-256"),
        ("ec256-public.pem", .rs256, "cannot verify RS256"),
        ("ed25519-public.pem", .hs512, "cannot verify HS512"),
        ("rsa-1024-public.pem", .rs256, "at least 2048"),
    ])
    func refusesAlgorithmThatDoesNotFit(_ file: String, _ algorithm: JWTAlgorithm, _ message: String) throws {
        let error = try #require(throws: KeyError.self) {
            try VerificationKey.publicKey(pem: FixtureSet.bytes(file), id: "k", algorithms: [algorithm])
        }
        #expect(error.description.contains(message), "\(error)")
    }

    /// Text that is not a PEM public key or certificate is refused.
    @Test func refusesNonPEM() throws {
        #expect(throws: KeyError.self) { try VerificationKey.publicKey(pem: Array("hello".utf8), id: nil, algorithms: [.rs256]) }
        #expect(throws: KeyError.self) { try VerificationKey.publicKey(pem: [], id: nil, algorithms: [.rs256]) }
        #expect(throws: KeyError.self) { try VerificationKey.publicKey(pem: FixtureSet.bytes("rsa-public.pem"), id: nil, algorithms: []) }
        // A private key is not a public key file.
        for file in ["rsa-private.pem", "rsa-private-traditional.pem", "ec256-private-traditional.pem"] {
            #expect(throws: KeyError.self) { try VerificationKey.publicKey(pem: FixtureSet.bytes(file), id: nil, algorithms: [.rs256]) }
        }
    }

    /// RFC 8725 §2.1: an RSA public key can never become an HMAC secret, however it is offered.
    @Test func publicKeyPEMIsNeverAnHMACSecret() throws {
        for file in ["rsa-public.pem", "rsa-cert.pem", "ec256-public.pem"] {
            let pem = try FixtureSet.bytes(file)
            let error = try #require(throws: KeyError.self) { try VerificationKey.hmac(secret: pem, id: "hs", algorithms: [.hs256]) }
            #expect(error.description.contains("PEM"))
            #expect(!error.description.contains("BEGIN"))  // the secret is never echoed
            // Leading whitespace does not hide it.
            #expect(throws: KeyError.self) { try VerificationKey.hmac(secret: Array("\n  ".utf8) + pem, id: "hs", algorithms: [.hs256]) }
        }
    }

    /// RFC 7518 §3.2: the secret is at least as long as the hash.
    @Test func refusesShortHMACSecrets() throws {
        #expect(throws: KeyError.self) { try VerificationKey.hmac(secret: Array(repeating: 1, count: 31), id: nil, algorithms: [.hs256]) }
        _ = try VerificationKey.hmac(secret: Array(repeating: 1, count: 32), id: nil, algorithms: [.hs256])
        let error = try #require(throws: KeyError.self) {
            try VerificationKey.hmac(secret: Array(repeating: 1, count: 48), id: "hs", algorithms: [.hs256, .hs512])
        }
        #expect(error.description.contains("HS512 needs at least 64"))
        #expect(throws: KeyError.self) { try VerificationKey.hmac(secret: Array(repeating: 1, count: 64), id: nil, algorithms: [.rs256]) }
        #expect(throws: KeyError.self) { try VerificationKey.hmac(secret: Array(repeating: 1, count: 64), id: nil, algorithms: []) }
        #expect(throws: KeyError.self) { try TokenSigner.hmac(.hs384, secret: Array(repeating: 1, count: 47)) }
    }

    /// The fixture JWKS: RSA with alg, EC with alg, Ed25519 without alg; `use: enc` and P-521 skipped.
    @Test func loadsJWKS() throws {
        let keys = try VerificationKey.jwks(json: FixtureSet.bytes("jwks.json"), allowed: nil)
        #expect(keys.map(\.id) == ["jwks-rsa", "jwks-ec", "jwks-ed"])
        #expect(keys.map(\.algorithms) == [[.rs256], [.es256], [.edDSA]])
        #expect(keys.map(\.keyDescription) == ["RSA 2048", "EC P-256", "Ed25519"])
    }

    /// A JWK without `alg` serves every algorithm of its type that `allowed` permits.
    @Test func jwksAllowedIntersects() throws {
        let rsaNoAlg = try rsaJWK(extra: "")
        let all = try VerificationKey.jwks(json: rsaNoAlg, allowed: nil)
        #expect(all[0].algorithms == Set(JWTAlgorithm.all(in: .rsa)))
        let some = try VerificationKey.jwks(json: rsaNoAlg, allowed: [.rs256, .ps256, .hs256])
        #expect(some[0].algorithms == [.rs256, .ps256])
        // alg outside allowed: the only key is skipped, so the set is unusable.
        #expect(throws: KeyError.self) { try VerificationKey.jwks(json: rsaJWK(extra: #","alg":"RS512""#), allowed: [.rs256]) }
        // alg that does not fit the key type.
        #expect(throws: KeyError.self) { try VerificationKey.jwks(json: rsaJWK(extra: #","alg":"HS256""#), allowed: nil) }
        // key_ops without verify.
        #expect(throws: KeyError.self) { try VerificationKey.jwks(json: rsaJWK(extra: #","key_ops":["encrypt"]"#), allowed: nil) }
    }

    /// Broken or unusable JWKS documents are errors, never an empty key set.
    @Test(arguments: [
        #"not json"#,
        #"{"keys":{}}"#,
        #"[]"#,
        #"{"keys":[]}"#,
        #"{"keys":[{"kty":"oct","k":"AAAA"}]}"#,
        #"{"keys":[{"kty":"RSA","e":"AQAB"}]}"#,
        #"{"keys":[{"kty":"RSA","n":"!!!","e":"AQAB"}]}"#,
        #"{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}"#,
        #"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"}]}"#,
        #"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}"#,
        #"{"keys":[{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
        #"{"keys":[{"kty":"RSA","kid":1,"n":"AQAB","e":"AQAB"}]}"#,
        #"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kty":"EC"}]}"#,
    ])
    func refusesBadJWKS(_ json: String) {
        #expect(throws: KeyError.self) { try VerificationKey.jwks(json: Array(json.utf8), allowed: nil) }
    }

    /// A JWKS with the RFC 7515 A.2 RSA key and extra members.
    private func rsaJWK(extra: String) throws -> [UInt8] {
        // The RFC 7515 A.2 modulus.
        let n = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
        return Array(#"{"keys":[{"kty":"RSA","kid":"a2","n":"\#(n)","e":"AQAB"\#(extra)}]}"#.utf8)
    }
}
