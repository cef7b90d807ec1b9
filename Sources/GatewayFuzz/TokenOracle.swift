import CFuzzSupport
import Foundation

/// An independent judge of an accepted token: its own strict base64url, Foundation's
/// JSONSerialization for the JSON, one-shot OpenSSL calls for the signatures, and RFC 7519's
/// rules for the registered claims. Knows the harness's two keys: `hs` (HS256) and `es` (ES256).
struct TokenOracle {
    /// The accepted `iss`.
    let issuer: String
    /// The accepted `aud`.
    let audience: String
    /// The verification time, seconds since the epoch.
    let now: Double

    /// Which algorithm each harness key may verify (RFC 8725 §3.1: one algorithm per key).
    static let keyAlgorithms = ["hs": "HS256", "es": "ES256"]

    /// Why accepting `token` was wrong, or nil when the oracle agrees.
    func problem(accepting token: String) -> FuzzFailure? {
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count == 3 else { return FuzzFailure("accepted a token with \(segments.count) segments") }
        guard let header = Self.decode(segments[0]), let payload = Self.decode(segments[1]), let signature = Self.decode(segments[2]) else {
            return FuzzFailure("accepted a token that is not canonical unpadded base64url (RFC 7515 §2)")
        }
        // Header: a JSON object naming an algorithm its key allows (RFC 7515 §4.1.1, §4.1.4).
        guard let headerObject = Self.object(header) else { return FuzzFailure("accepted a header that is not a JSON object") }
        guard let alg = headerObject["alg"] as? String else { return FuzzFailure("accepted a header without a string alg") }
        if headerObject["crit"] != nil { return FuzzFailure("accepted a header with crit (RFC 7515 §4.1.11)") }
        let candidates: [String]
        if let kid = headerObject["kid"] {
            guard let kid = kid as? String, let allowed = Self.keyAlgorithms[kid] else {
                return FuzzFailure("accepted a kid that names no harness key")
            }
            guard allowed == alg else { return FuzzFailure("accepted alg \(alg) for key \(kid), which allows only \(allowed)") }
            candidates = [kid]
        } else {
            candidates = Self.keyAlgorithms.filter { $0.value == alg }.map(\.key)
            if candidates.isEmpty { return FuzzFailure("accepted alg \(alg.debugDescription), which no harness key allows") }
        }
        let input = Array(token.utf8.prefix(segments[0].utf8.count + 1 + segments[1].utf8.count))
        guard candidates.contains(where: { Self.signatureMatches(key: $0, input: input, signature: signature) }) else {
            return FuzzFailure("accepted a signature that OpenSSL's one-shot check refuses")
        }
        // Payload: a JSON object in valid UTF-8 (RFC 7519 §7.2 step 10; RFC 8259 §8.1) without
        // NUL bytes (a C parser stops at one; whatever follows was never checked).
        if payload.contains(0) { return FuzzFailure("accepted a claims set containing a NUL byte") }
        guard String(validating: payload, as: UTF8.self) != nil else { return FuzzFailure("accepted a claims set that is not UTF-8") }
        guard let claims = Self.object(payload) else { return FuzzFailure("accepted a claims set that JSONSerialization refuses") }
        // RFC 7519 §4.1.4, §4.1.5: now is before exp and not before nbf.
        if let exp = claims["exp"] {
            guard let value = (exp as? NSNumber)?.doubleValue, !(exp is String) else { return FuzzFailure("accepted a non-numeric exp") }
            if !(now < value) { return FuzzFailure("accepted a token that expired at \(value)") }
        }
        if let nbf = claims["nbf"] {
            guard let value = (nbf as? NSNumber)?.doubleValue, !(nbf is String) else { return FuzzFailure("accepted a non-numeric nbf") }
            if !(now >= value) { return FuzzFailure("accepted a token not valid before \(value)") }
        }
        // RFC 7519 §4.1.1, §4.1.3: the configured issuer and audience.
        guard claims["iss"] as? String == issuer else { return FuzzFailure("accepted a token from another issuer") }
        let audienceMatches: Bool
        switch claims["aud"] {
        case let text as String: audienceMatches = text == audience
        case let list as [Any]: audienceMatches = list.contains { $0 as? String == audience }
        default: audienceMatches = false
        }
        guard audienceMatches else { return FuzzFailure("accepted a token for another audience") }
        return nil
    }

    /// The decoded payload segment (for comparing with what the verifier hands on).
    func payload(of token: String) -> [UInt8]? {
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        return segments.count == 3 ? Self.decode(segments[1]) : nil
    }

    private static func object(_ bytes: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
    }

    private static func signatureMatches(key: String, input: [UInt8], signature: [UInt8]) -> Bool {
        switch key {
        case "hs":
            return wsgate_fuzz_hmac_sha256_matches(FuzzKeys.secret, FuzzKeys.secret.count, input, input.count, signature, signature.count) == 1
        case "es":
            return wsgate_fuzz_es256_matches(FuzzKeys.ecPublicPEM, FuzzKeys.ecPublicPEM.count, input, input.count, signature, signature.count) == 1
        default:
            return false
        }
    }

    /// Strict base64url (RFC 4648 §5) without padding: URL-safe alphabet only, no length of
    /// 1 mod 4, and zero bits after the last byte (so one spelling per byte string).
    static func decode(_ text: Substring) -> [UInt8]? {
        var values: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(byte - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(byte - 97 + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(byte - 48 + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            default: return nil
            }
        }
        if values.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for value in values {
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        return accumulator == 0 ? out : nil
    }
}
