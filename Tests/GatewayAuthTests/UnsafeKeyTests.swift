import Foundation
import GatewayAuth
import Testing

/// RSA keys that would let anyone forge tokens are refused wherever keys come from: a PEM file,
/// a JWKS file (the whole document is refused), a JWKS an issuer publishes (that key is left out
/// and the others serve). Fixtures: `weak-keys.json` and `rsa-e*-public.pem` (generate.py),
/// the JWKS RSA key's modulus with other public exponents.
struct UnsafeKeyTests {
    /// `weak-keys.json` as Foundation values.
    static func weakKeys() throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(FixtureSet.bytes("weak-keys.json"))) as? [String: Any])
    }

    /// A JSON value of `weak-keys.json` as the bytes of a document.
    static func document(_ value: Any) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: value))
    }

    @Test("PEM public exponent: 1 and 2 refused with a message naming the key and the exponent, 3 and 65537 load", arguments: [
        (1, "key k: RSA public exponent 1 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged"),
        (2, "key k: RSA public exponent 2 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged"),
        (3, nil),
        (65537, nil),
    ] as [(Int, String?)])
    func pemExponentEdges(_ exponent: Int, _ refusal: String?) throws {
        let pem = try FixtureSet.bytes("rsa-e\(exponent)-public.pem")
        if let refusal {
            let error = try #require(throws: KeyError.self) { try VerificationKey.publicKey(pem: pem, id: "k", algorithms: [.rs256]) }
            #expect(error.description == refusal)
            #expect(error.isUnsafeKey)
        } else {
            let key = try VerificationKey.publicKey(pem: pem, id: "k", algorithms: [.rs256])
            #expect(key.keyDescription == "RSA 2048")
        }
    }

    @Test("JWK public exponent: 1, 2 and 65536 refused, 3 and 65537 load", arguments: [
        (1, "JWKS key #0 (kid e1): RSA public exponent 1 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged"),
        (2, "JWKS key #0 (kid e2): RSA public exponent 2 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged"),
        (3, nil),
        (65536, "JWKS key #0 (kid e65536): RSA public exponent 65536 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged"),
        (65537, nil),
    ] as [(Int, String?)])
    func jwkExponentEdges(_ exponent: Int, _ refusal: String?) throws {
        let exponents = try #require(Self.weakKeys()["exponents"] as? [String: Any])
        let json = try Self.document(try #require(exponents["\(exponent)"]))
        if let refusal {
            let error = try #require(throws: KeyError.self) { try VerificationKey.jwks(json: json, allowed: nil) }
            #expect(error.description == refusal)
            // Published by an issuer, the set has nothing else: still an error, the same one.
            var refused: [KeyError] = []
            let lenient = try #require(throws: KeyError.self) { try VerificationKey.jwks(json: json, allowed: nil, refused: &refused) }
            #expect(lenient.description == refusal)
        } else {
            let keys = try VerificationKey.jwks(json: json, allowed: nil)
            #expect(keys.map(\.id) == ["e\(exponent)"])
        }
    }

    @Test("a token forged for an e=1 JWK is refused; the set's good key still verifies; the strict form refuses the set")
    func forgedTokenForExponentOne() throws {
        let fixtures = try Self.weakKeys()
        let json = try Self.document(try #require(fixtures["jwks"]))
        let forged = try #require(fixtures["forged"] as? String)
        let set = FixtureSet.shared

        var refused: [KeyError] = []
        let keys = try VerificationKey.jwks(json: json, allowed: nil, refused: &refused)
        #expect(keys.map(\.id) == ["jwks-rsa"])
        #expect(refused.map(\.description) == [
            "JWKS key #0 (kid weak-e1): RSA public exponent 1 is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged",
        ])
        let verifier = JWTVerifier(keys: KeySet(keys), policy: set.policy)
        let error = try #require(throws: TokenError.self) { try verifier.verify(forged, now: set.now) }
        #expect(error.reason == .unknownKey)
        #expect(try verifier.verify(TokenFixture.jwksKeyValid.token, now: set.now).subject == "alice")

        // A document the operator configured is refused whole, naming the key.
        let strict = try #require(throws: KeyError.self) { try VerificationKey.jwks(json: json, allowed: nil) }
        #expect(strict.description == refused.first?.description)
    }
}
