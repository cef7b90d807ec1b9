import GatewayAuth

/// `JWTVerifier` on arbitrary tokens and on JOSE mutations re-signed with the harness's keys
/// (so the fuzzer gets past the signature and into the header and claims). Every token the
/// verifier accepts is re-checked by `TokenOracle`, which shares no code with it.
///
/// Input: byte 0 mod 3 picks the mode. 0: the rest is a token. 1 and 2: byte 1 is the header
/// JSON's length, then the header JSON, then the payload JSON; signed with HS256 (1) or ES256 (2).
final class TokenCheck: Sendable {
    /// Built once: key parsing per input would dominate the run.
    static let shared = TokenCheck()

    /// The accepted `iss`.
    static let issuer = "https://issuer.example"
    /// The accepted `aud`.
    static let audience = "wsgate"

    /// The verifier under test: keys `hs` (HS256) and `es` (ES256).
    let verifier: JWTVerifier
    /// Signs mode-1 inputs.
    let hmacSigner: TokenSigner
    /// Signs mode-2 inputs.
    let ecSigner: TokenSigner
    /// Re-checks every acceptance.
    let oracle: TokenOracle

    /// Loads the harness keys (fatal if they do not load).
    init() {
        do {
            let keys = KeySet([
                try VerificationKey.hmac(secret: FuzzKeys.secret, id: "hs", algorithms: [.hs256]),
                try VerificationKey.publicKey(pem: FuzzKeys.ecPublicPEM, id: "es", algorithms: [.es256]),
            ])
            verifier = JWTVerifier(keys: keys, policy: VerificationPolicy(issuers: [Self.issuer], audiences: [Self.audience], maxTokenBytes: 8192))
            hmacSigner = try TokenSigner.hmac(.hs256, secret: FuzzKeys.secret)
            ecSigner = try TokenSigner.privateKey(.es256, pem: FuzzKeys.ecPrivatePEM)
        } catch {
            fatalError("the fuzz keys do not load: \(error)")
        }
        oracle = TokenOracle(issuer: Self.issuer, audience: Self.audience, now: FuzzKeys.now)
    }

    /// True when the verifier accepts the input's token.
    func accepts(_ input: [UInt8]) -> Bool {
        guard let token = token(input) else { return false }
        return (try? verifier.verify(token, now: FuzzKeys.now)) != nil
    }

    /// Verifies the input's token and has the oracle re-check an acceptance.
    func check(_ input: [UInt8]) -> FuzzFailure? {
        guard let token = token(input) else { return nil }
        guard let verified = try? verifier.verify(token, now: FuzzKeys.now) else { return nil }
        if let problem = oracle.problem(accepting: token) { return problem }
        if verified.payload != oracle.payload(of: token) {
            return FuzzFailure("the verified payload differs from the token's payload segment")
        }
        return nil
    }

    /// The token an input stands for (signed here in modes 1 and 2).
    func token(_ input: [UInt8]) -> String? {
        guard let mode = input.first else { return nil }
        let token: String
        switch mode % 3 {
        case 0:
            token = String(decoding: input.dropFirst(), as: UTF8.self)
        default:
            guard input.count >= 2 else { return nil }
            let headerLength = min(Int(input[1]), input.count - 2)
            let header = Array(input[2..<(2 + headerLength)])
            let payload = Array(input[(2 + headerLength)...])
            let signer = mode % 3 == 1 ? hmacSigner : ecSigner
            guard let signed = try? signer.sign(headerJSON: header, payloadJSON: payload) else { return nil }
            token = signed
        }
        return token
    }
}
