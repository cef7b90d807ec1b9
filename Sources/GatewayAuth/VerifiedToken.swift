import CJansson
import GatewayText

/// A token whose signature and standard claims have been verified.
///
/// The claims stay in their parsed jansson form; `claims` converts the whole set on each access,
/// `value(at:)` only the part asked for.
public struct VerifiedToken: Sendable {
    /// The header's `alg`.
    public let algorithm: JWTAlgorithm
    /// The header's `kid`, when present.
    public let kid: String?
    /// The payload JSON exactly as signed (for `forward_payload_header`).
    public let payload: [UInt8]
    /// The parsed claims.
    let document: ClaimsDocument

    /// Made by the verifier.
    init(algorithm: JWTAlgorithm, kid: String?, payload: [UInt8], document: ClaimsDocument) {
        self.algorithm = algorithm
        self.kid = kid
        self.payload = payload
        self.document = document
    }

    /// Wraps already verified parts (for tests of code that consumes tokens).
    public init(algorithm: JWTAlgorithm, kid: String?, claims: [String: JSONValue], payload: [UInt8]) {
        self.algorithm = algorithm
        self.kid = kid
        self.payload = payload
        self.document = ClaimsDocument(parsing: Array(JSONValue.object(claims).jsonText.utf8))
    }

    /// `iss`, when present (always a string in a verified token: other types are refused).
    public var issuer: String? { document.member("iss").flatMap(JSONDocument.string) }
    /// `sub`, when present (always a string in a verified token).
    public var subject: String? { document.member("sub").flatMap(JSONDocument.string) }
    /// `exp` in seconds since the epoch, when present.
    public var expiresAt: Double? { document.member("exp").flatMap(JSONDocument.number) }
    /// `iat` in seconds since the epoch, when present (RFC 7519 §4.1.6).
    public var issuedAt: Double? { document.member("iat").flatMap(JSONDocument.number) }
    /// `jti`, when present and a string (RFC 7519 §4.1.7).
    public var tokenID: String? { document.member("jti").flatMap(JSONDocument.string) }
    /// `sid`, the identity provider's session id (OpenID Connect Front-Channel Logout §3), when a string.
    public var sessionID: String? { document.member("sid").flatMap(JSONDocument.string) }

    /// The verified claims set (converted on each access; prefer `value(at:)` for a few claims).
    public var claims: [String: JSONValue] { JSONDocument.object(document.root) }

    /// The value at a dotted path (`org.id`). A top-level claim whose name itself contains dots
    /// (`https://example.com/roles`, a common namespaced claim) is found first.
    public func value(at path: String) -> JSONValue? {
        document.lookup(path).map(JSONDocument.value)
    }

    /// The header text for a claim: strings as is, numbers and bools as JSON, arrays of scalars
    /// joined with `,`, objects (and arrays holding objects or arrays) as compact JSON; nil when
    /// absent or null, and nil when the text would hold a control character (CR/LF would split
    /// the header: RFC 9110 §5.5 forbids them in field values).
    public func headerValue(at path: String) -> String? {
        guard let value = value(at: path) else { return nil }
        let text: String
        switch value {
        case .null: return nil
        case .string(let s): text = s
        case .array(let items):
            if items.allSatisfy(\.isScalar) {
                text = items.map { item -> String in
                    if case .string(let s) = item { return s }
                    return item.jsonText
                }.joined(separator: ",")
            } else {
                text = value.jsonText
            }
        default: text = value.jsonText
        }
        guard HeaderFieldValue.isSafe(text) else { return nil }
        return text
    }

    /// Throws `.claimForbidden` when a requirement is not met: each claim must hold one of its
    /// allowed values (an array claim: any element), and every scope must be granted.
    public func check(_ requirements: ClaimRequirements) throws(TokenError) {
        for requirement in requirements.claims {
            guard let value = value(at: requirement.path), value != .null else {
                throw forbidden("claim \(requirement.path) is missing")
            }
            let candidates: [JSONValue]
            if case .array(let items) = value { candidates = items } else { candidates = [value] }
            let met = candidates.contains { candidate in requirement.allowed.contains { $0.matches(candidate) } }
            if !met {
                throw forbidden("claim \(requirement.path) has none of the allowed values")
            }
        }
        if !requirements.scopes.isEmpty {
            let granted = grantedScopes
            for scope in requirements.scopes where !granted.contains(scope) {
                throw forbidden("scope \(scope) not granted")
            }
        }
    }

    /// Scopes from `scope` (RFC 8693 §4.2: space-delimited) and `scp`, each either a
    /// space-delimited string or an array of strings.
    public var grantedScopes: Set<String> {
        var scopes = Set<String>()
        for name: StaticString in ["scope", "scp"] {
            guard let json = document.member(name) else { continue }
            switch JSONDocument.value(json) {
            case .string(let s): scopes.formUnion(s.split(separator: " ").map(String.init))
            case .array(let items): scopes.formUnion(items.compactMap(\.stringValue))
            default: break
            }
        }
        return scopes
    }

    private func forbidden(_ detail: String) -> TokenError {
        TokenError(.claimForbidden, detail, kid: kid, issuer: issuer, subject: subject)
    }
}

extension JSONValue {
    /// Not an array or object.
    var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }
}
