import CJansson

/// The JOSE header parameters wsgate acts on (RFC 7515 §4.1).
///
/// Only `alg` and `kid` are used. `crit` with any value is refused because wsgate understands no
/// extension (RFC 7515 §4.1.11 requires refusing unknown critical extensions). `jku`, `x5u`,
/// `jwk` and `x5c` are ignored: a token never chooses its own key (RFC 8725 §3.10).
struct JOSEHeader {
    /// The algorithm (RFC 7515 §4.1.1).
    var algorithm: JWTAlgorithm
    /// The key id (RFC 7515 §4.1.4).
    var kid: String?

    /// Parses decoded header JSON.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(TokenError) -> JOSEHeader {
        let json: UnsafeMutablePointer<json_t>
        switch JSONDocument.parse(bytes) {
        case .success(let parsed): json = parsed
        case .failure(let failure): throw TokenError(.malformed, "the header \(failure.phrase)")
        }
        defer { wsgate_json_decref(json) }
        guard wsgate_json_is_object(json) != 0 else {
            throw TokenError(.malformed, "the header is not a JSON object (RFC 7515 §4)")
        }
        var kid: String? = nil
        if let kidValue = json_object_get(json, "kid") {
            guard let text = JSONDocument.string(kidValue) else {
                throw TokenError(.malformed, "kid is not a string (RFC 7515 §4.1.4)")
            }
            kid = text
        }
        if json_object_get(json, "crit") != nil {
            throw TokenError(.malformed, "crit names extensions wsgate does not understand (RFC 7515 §4.1.11)", kid: kid)
        }
        guard let algValue = json_object_get(json, "alg") else {
            throw TokenError(.malformed, "the header has no alg (RFC 7515 §4.1.1)", kid: kid)
        }
        guard let alg = JSONDocument.string(algValue) else {
            throw TokenError(.malformed, "alg is not a string (RFC 7515 §4.1.1)", kid: kid)
        }
        guard let algorithm = JWTAlgorithm(rawValue: alg) else {
            if alg.lowercased() == "none" {
                throw TokenError(.algorithmNotAllowed, "alg none is never accepted (RFC 8725 §3.1)", kid: kid)
            }
            throw TokenError(.algorithmNotAllowed, "alg \(algorithmName(alg)) is not supported", kid: kid)
        }
        return JOSEHeader(algorithm: algorithm, kid: kid)
    }

    /// An unsupported `alg` as it may appear in a detail: names shaped like JOSE algorithm
    /// identifiers (RFC 7518 §3.1, e.g. ES512, ES256K, Ed448) are echoed, anything else is not.
    static func algorithmName(_ alg: String) -> String {
        let shaped = alg.utf8.count <= 12 && alg.unicodeScalars.allSatisfy { $0.properties.isASCIIHexDigit || ("A"..."Z").contains($0) || ("a"..."z").contains($0) || $0 == "-" }
        return shaped ? alg : "(unrecognised)"
    }

    /// A header value safe to echo in a detail: at most 20 printable ASCII characters.
    static func printable(_ text: String) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.prefix(20).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
        return "\"" + cleaned + (text.unicodeScalars.count > 20 ? "…" : "") + "\""
    }
}
