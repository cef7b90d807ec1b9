import Foundation
import GatewayAuth

/// The committed output of `Fixtures/generate.py`: keys and tokens made by PyJWT, joserfc and
/// the `cryptography` package, loaded once.
struct FixtureSet: Sendable {
    /// The clock every fixture is checked at.
    let now: Double
    /// tokens.json's policy.
    let policy: VerificationPolicy
    /// Tokens that must verify, per library and algorithm.
    let interop: [InteropToken]
    /// Named tokens by name.
    let tokens: [String: String]
    /// The verifier with every fixture key.
    let verifier: JWTVerifier
    /// The HMAC secret the HS tokens were signed with.
    let hmacSecret: [UInt8]

    /// Loaded on first use.
    static let shared: FixtureSet = {
        do { return try FixtureSet() } catch { fatalError("fixtures: \(error)") }
    }()

    /// The Fixtures directory inside the test bundle.
    static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    /// The bytes of one fixture file.
    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    private init() throws {
        let document = try JSONSerialization.jsonObject(with: Data(Self.bytes("tokens.json"))) as! [String: Any]
        now = (document["now"] as! NSNumber).doubleValue
        let policyObject = document["policy"] as! [String: Any]
        policy = VerificationPolicy(
            issuers: policyObject["issuers"] as! [String],
            audiences: policyObject["audiences"] as! [String],
            leewaySeconds: (policyObject["leeway"] as! NSNumber).int64Value,
            maxTokenBytes: (policyObject["max_token_bytes"] as! NSNumber).intValue)
        interop = (document["interop"] as! [[String: Any]]).map {
            InteropToken(library: $0["library"] as! String, algorithm: $0["alg"] as! String, token: $0["token"] as! String)
        }
        tokens = (document["fixtures"] as! [String: [String: Any]]).mapValues { $0["token"] as! String }
        hmacSecret = Base64URL.decode(document["hmac_secret"] as! String)!

        var keys: [VerificationKey] = [
            try .hmac(secret: hmacSecret, id: "hs", algorithms: [.hs256, .hs384, .hs512]),
            try .publicKey(pem: Self.bytes("rsa-public.pem"), id: "rsa", algorithms: [.rs256, .rs384, .rs512, .ps256, .ps384, .ps512]),
            try .publicKey(pem: Self.bytes("ec256-public.pem"), id: "ec256", algorithms: [.es256]),
            try .publicKey(pem: Self.bytes("ec384-public.pem"), id: "ec384", algorithms: [.es384]),
            try .publicKey(pem: Self.bytes("ed25519-public.pem"), id: "ed", algorithms: [.edDSA]),
        ]
        keys += try VerificationKey.jwks(json: Self.bytes("jwks.json"), allowed: nil)
        verifier = JWTVerifier(keys: KeySet(keys), policy: policy)
    }
}

/// A token from an independent library that must verify.
struct InteropToken: Sendable, CustomTestStringConvertible {
    /// "pyjwt" or "joserfc".
    let library: String
    /// The alg it was minted with.
    let algorithm: String
    /// The compact token.
    let token: String
    /// "pyjwt RS256".
    var testDescription: String { "\(library) \(algorithm)" }
}

import Testing
