import CJansson

/// The claims-parsing step of verification on its own, so `wsgate-bench verify` can show how much
/// of the full path jansson takes and what that leaves reachable.
public enum ClaimsParsingBaseline {
    /// Parses claims JSON exactly as `JWTVerifier` does (depth bound, jansson with
    /// `JSON_REJECT_DUPLICATES`), checks it is an object, and frees it; false when it is refused.
    public static func parse(_ claims: UnsafeRawBufferPointer) -> Bool {
        switch JSONDocument.parse(claims) {
        case .success(let json):
            let document = ClaimsDocument(owning: json)
            return wsgate_json_is_object(document.root) != 0
        case .failure:
            return false
        }
    }
}
