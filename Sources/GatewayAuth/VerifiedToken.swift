/// A token whose signature and standard claims have been verified.
public struct VerifiedToken: Sendable {
    /// The header's `alg`.
    public let algorithm: JWTAlgorithm
    /// The header's `kid`, when present.
    public let kid: String?
    /// The verified claims set.
    public let claims: [String: JSONValue]
    /// The payload JSON exactly as signed (for `forward_payload_header`).
    public let payload: [UInt8]

    /// Wraps already verified parts (the verifier, and tests of code that consumes tokens).
    public init(algorithm: JWTAlgorithm, kid: String?, claims: [String: JSONValue], payload: [UInt8]) {
        self.algorithm = algorithm
        self.kid = kid
        self.claims = claims
        self.payload = payload
    }

    /// `iss`, when a string.
    public var issuer: String? { claims["iss"]?.stringValue }
    /// `sub`, when a string.
    public var subject: String? { claims["sub"]?.stringValue }
    /// `exp` in seconds since the epoch, when present.
    public var expiresAt: Double? { claims["exp"]?.doubleValue }

    /// The value at a dotted path (`org.id`). A top-level claim whose name itself contains dots
    /// (`https://example.com/roles`, a common namespaced claim) is found first.
    public func value(at path: String) -> JSONValue? {
        if let direct = claims[path] { return direct }
        var current: JSONValue = .object(claims)
        for component in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let members) = current, let next = members[String(component)] else { return nil }
            current = next
        }
        return current
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
                text = items.compactMap { item -> String? in
                    if case .string(let s) = item { return s }
                    return item.jsonText
                }.joined(separator: ",")
            } else {
                text = value.jsonText
            }
        default: text = value.jsonText
        }
        if text.utf8.contains(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F }) { return nil }
        return text
    }

    /// Throws `.claimForbidden` when a requirement is not met.
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

    /// Scopes from `scope` and `scp`, each either a space-delimited string or an array of strings.
    public var grantedScopes: Set<String> {
        var scopes = Set<String>()
        for name in ["scope", "scp"] {
            switch claims[name] {
            case .string(let s)?: scopes.formUnion(s.split(separator: " ").map(String.init))
            case .array(let items)?: scopes.formUnion(items.compactMap(\.stringValue))
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
