/// One required claim: the value at `path` must equal one of `allowed` (arrays match by membership).
public struct ClaimRequirement: Sendable, Hashable {
    /// A claim name, or a dotted path into nested objects (`org.id`).
    public var path: String
    /// The accepted values; the claim must equal one of them.
    public var allowed: [JSONValue]
    /// Creates a requirement.
    public init(path: String, allowed: [JSONValue]) { self.path = path; self.allowed = allowed }
}

/// A route's required claims and scopes.
public struct ClaimRequirements: Sendable, Hashable {
    /// Claims that must hold one of their allowed values.
    public var claims: [ClaimRequirement]
    /// OAuth scopes that must all be granted, in `scope` (space-delimited string, RFC 8693 §4.2)
    /// or `scp` (array of strings, or a space-delimited string as some issuers write it).
    public var scopes: [String]
    /// Creates requirements.
    public init(claims: [ClaimRequirement] = [], scopes: [String] = []) { self.claims = claims; self.scopes = scopes }
    /// True when nothing is required.
    public var isEmpty: Bool { claims.isEmpty && scopes.isEmpty }
}
