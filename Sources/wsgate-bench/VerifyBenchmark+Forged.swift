import Foundation
import GatewayAuth

extension VerifyBenchmark {
    /// `--forged-keys N`: what a flood of forged RS256 tokens without `kid` costs when N RS256
    /// keys are configured, with the default key choice (the first key allowing the alg) and with
    /// `auth.try_all_keys` (every one: the behaviour before the bound), next to one signature
    /// check. CPU ms per 1,000 tokens, medians of `runs`, one thread.
    func runForged() throws {
        let now = Date().timeIntervalSince1970
        let policy = VerificationPolicy(issuers: ["https://auth.example.com"], audiences: ["chat"], leewaySeconds: 30)
        var keys: [VerificationKey] = []
        for index in 0..<forgedKeys {
            keys.append(try TokenSigner.generating(.rs256).verificationKey(id: "key-\(index)"))
        }
        // Signed by a key nobody configured, no kid: every candidate refuses it. The signature is
        // the one an attacker would send: below every key's modulus (first byte 0; a 2048-bit
        // modulus has its top bit set), so each key tried does the whole RSA operation. A value
        // at or above a modulus is refused before it, and a random signature is above about half
        // the time: with the signature as signed, this figure depended on the keys drawn.
        let forger = try TokenSigner.generating(.rs256)
        var parts = try forger.sign(claims: Self.claims(now: now)).split(separator: ".").map(String.init)
        var forgedSignature = Base64URL.decode(parts[2])!
        forgedSignature[0] = 0
        parts[2] = Base64URL.encode(forgedSignature)
        let forged = parts.joined(separator: ".")
        let bounded = JWTVerifier(keys: KeySet(keys), policy: policy)
        var allPolicy = policy
        allPolicy.tryAllKeys = true
        let tryAll = JWTVerifier(keys: KeySet(keys), policy: allPolicy)
        for verifier in [bounded, tryAll] {
            do {
                _ = try verifier.verify(forged, now: now)
                preconditionFailure("a forged token verified")
            } catch {
                precondition(error.reason == .signatureInvalid)
            }
        }
        let input = Array(forged.utf8[..<forged.utf8.lastIndex(of: UInt8(ascii: "."))!])
        let signature = Base64URL.decode(String(forged.split(separator: ".")[2]))!
        let first = keys[0]

        var boundedRuns: [Double] = []
        var allRuns: [Double] = []
        var signatureRuns: [Double] = []
        _ = Self.measure(seconds: min(0.3, seconds)) { _ = try? bounded.verify(forged, now: now) }  // warm-up
        for _ in 0..<runs {
            // Interleaved, so drift on a shared machine hits all three alike.
            boundedRuns.append(1e6 / Self.measure(seconds: seconds) { _ = try? bounded.verify(forged, now: now) })
            allRuns.append(1e6 / Self.measure(seconds: seconds) { _ = try? tryAll.verify(forged, now: now) })
            signatureRuns.append(1e6 / Self.measure(seconds: seconds) { _ = first.verifySignature(signature, over: input, algorithm: .rs256) })
        }
        let (b, a, s) = (Self.median(boundedRuns), Self.median(allRuns), Self.median(signatureRuns))
        func row(_ name: String, _ value: Double, _ runs: [Double]) -> String {
            name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%9.1f ms  %5.2f×   runs ", value, value / s)
                + runs.map { String(format: "%.1f", $0) }.joined(separator: " / ")
        }
        print("forged RS256 tokens without kid, \(forgedKeys) RS256 keys; CPU ms per 1,000, median of \(runs) × \(seconds) CPU-s, one thread")
        print(row("default (first key allowing RS256)", b, boundedRuns))
        print(row("auth.try_all_keys: true (every key)", a, allRuns))
        print(row("one RS256 signature check", s, signatureRuns))
        print(String(format: "target: forged kid-less token ≤ 1.2× one signature check: %@ (%.2f×)", b <= 1.2 * s ? "met" : "NOT met", b / s))
    }
}
