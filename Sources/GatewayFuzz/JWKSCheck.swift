import Foundation
import GatewayAuth

/// JWKS documents (`VerificationKey.jwks`): never a crash, and no RSA key whose public
/// exponent makes signatures forgeable. RFC 8017 §3.1 requires 3 ≤ e ≤ n − 1 and e odd; with
/// e = 1 a "signature" is the padded digest itself, so anyone can sign. The check reads each
/// RSA entry with JSONSerialization and its own base64url, and when the exponent breaks that
/// rule, a set holding only that entry must be refused.
enum JWKSCheck {
    /// True when the set loads.
    static func accepts(_ input: [UInt8]) -> Bool {
        (try? VerificationKey.jwks(json: input, allowed: nil)) != nil
    }

    /// Checks the exponents of an accepted set's RSA keys.
    static func check(_ input: [UInt8]) -> FuzzFailure? {
        guard (try? VerificationKey.jwks(json: input, allowed: nil)) != nil else { return nil }
        guard let document = (try? JSONSerialization.jsonObject(with: Data(input))) as? [String: Any],
              let entries = document["keys"] as? [Any]
        else { return nil }
        for (index, entry) in entries.enumerated() {
            guard let jwk = entry as? [String: Any], jwk["kty"] as? String == "RSA",
                  let e = (jwk["e"] as? String).flatMap({ TokenOracle.decode($0[...]) })
            else { continue }
            let significant = e.drop { $0 == 0 }
            let weak = significant.isEmpty || (significant.count == 1 && significant.last! < 3) || significant.last! & 1 == 0
            guard weak, let single = try? JSONSerialization.data(withJSONObject: ["keys": [jwk]]) else { continue }
            if let keys = try? VerificationKey.jwks(json: Array(single), allowed: nil), !keys.isEmpty {
                return FuzzFailure("JWKS key #\(index) with public exponent \(Array(significant)) accepted (RFC 8017 §3.1: odd, at least 3)")
            }
        }
        return nil
    }
}
