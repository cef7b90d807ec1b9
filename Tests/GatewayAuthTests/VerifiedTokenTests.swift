import GatewayAuth
import Testing

/// Route requirements (`VerifiedToken.check`), dotted paths and header values.
struct VerifiedTokenTests {
    /// A token verified through the real path, with nested and array claims.
    /// A token verified through the real path, with `sub` and `iss` added.
    static func token(_ claims: [String: JSONValue]) throws -> VerifiedToken {
        let signer = try TokenSigner.hmac(.hs256, secret: Array(repeating: 7, count: 32), kid: "k")
        let key = try VerificationKey.hmac(secret: Array(repeating: 7, count: 32), id: "k", algorithms: [.hs256])
        var all = claims
        all["sub"] = "alice"
        all["iss"] = "https://issuer.example"
        return try JWTVerifier(keys: KeySet([key]), policy: VerificationPolicy()).verify(signer.sign(claims: all), now: 0)
    }

    /// Claims of every JSON type, nested objects, arrays, a namespaced name and a CR/LF value.
    static let sample: [String: JSONValue] = [
        "role": "member",
        "roles": ["reader", "writer"],
        "level": 3,
        "ratio": 0.5,
        "admin": false,
        "org": ["id": "org-42", "tier": ["name": "gold"], "seats": 12, "tags": ["eu", "beta"]],
        "https://example.com/tenant": "acme",
        "scope": "chat.read chat.write",
        "scp": ["admin.view", "admin.edit"],
        "nothing": nil,
        "mixed": ["a", 1, true],
        "nested": [["x": 1]],
        "evil": "line\r\nX-Injected: 1",
    ]

    /// Dotted paths reach into nested objects.
    @Test func nestedPathMatches() throws {
        let token = try Self.token(Self.sample)
        try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "org.id", allowed: ["org-42"])]))
        try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "org.tier.name", allowed: ["silver", "gold"])]))
        let error = try #require(throws: TokenError.self) {
            try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "org.tier.name", allowed: ["silver"])]))
        }
        #expect(error.reason == .claimForbidden)
        #expect(error.subject == "alice")
        #expect(error.issuer == "https://issuer.example")
        #expect(error.kid == "k")
        #expect(throws: TokenError.self) {
            try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "org.missing", allowed: ["x"])]))
        }
        #expect(throws: TokenError.self) {
            try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "role.sub", allowed: ["x"])]))
        }
    }

    /// A claim must equal one of the allowed values; 3 equals 3.0, "3" does not.
    @Test func oneOfListMatches() throws {
        let token = try Self.token(Self.sample)
        try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "role", allowed: ["admin", "member"])]))
        try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "level", allowed: [1, 3])]))
        try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "level", allowed: [3.0])]))  // 3 == 3.0
        try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "admin", allowed: [false])]))
        #expect(throws: TokenError.self) {
            try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "role", allowed: ["admin"])]))
        }
        #expect(throws: TokenError.self) {  // a string "3" is not the number 3
            try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "level", allowed: ["3"])]))
        }
        #expect(throws: TokenError.self) {  // null counts as missing
            try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "nothing", allowed: [nil])]))
        }
    }

    /// An array claim matches when any element is allowed.
    @Test func arrayClaimMatchesByMembership() throws {
        let token = try Self.token(Self.sample)
        try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "roles", allowed: ["writer"])]))
        try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "org.tags", allowed: ["us", "eu"])]))
        #expect(throws: TokenError.self) {
            try token.check(ClaimRequirements(claims: [ClaimRequirement(path: "roles", allowed: ["admin"])]))
        }
    }

    /// Every requirement must hold.
    @Test func allRequirementsMustHold() throws {
        let token = try Self.token(Self.sample)
        let both = ClaimRequirements(claims: [
            ClaimRequirement(path: "role", allowed: ["member"]),
            ClaimRequirement(path: "org.id", allowed: ["other"]),
        ])
        #expect(throws: TokenError.self) { try token.check(both) }
        try token.check(ClaimRequirements())
        #expect(ClaimRequirements().isEmpty)
    }

    /// Scopes come from `scope` and `scp`, as strings or arrays.
    @Test func scopesFromScopeAndScp() throws {
        let token = try Self.token(Self.sample)
        try token.check(ClaimRequirements(scopes: ["chat.write"]))
        try token.check(ClaimRequirements(scopes: ["chat.read", "chat.write"]))
        try token.check(ClaimRequirements(scopes: ["admin.view"]))
        try token.check(ClaimRequirements(scopes: ["chat.read", "admin.edit"]))
        let error = try #require(throws: TokenError.self) { try token.check(ClaimRequirements(scopes: ["chat.write", "chat.delete"])) }
        #expect(error.reason == .claimForbidden)
        #expect(error.detail == "scope chat.delete not granted")
        #expect(token.grantedScopes == ["chat.read", "chat.write", "admin.view", "admin.edit"])

        // scp as a space-delimited string (as some issuers write it), scope as an array.
        let other = try Self.token(["scp": "a b", "scope": ["c"]])
        try other.check(ClaimRequirements(scopes: ["a", "b", "c"]))
        let none = try Self.token([:])
        #expect(throws: TokenError.self) { try none.check(ClaimRequirements(scopes: ["a"])) }
        // A scope claim of the wrong type grants nothing.
        let wrong = try Self.token(["scope": 5])
        #expect(throws: TokenError.self) { try wrong.check(ClaimRequirements(scopes: ["5"])) }
    }

    /// `value(at:)` converts just the part asked for.
    @Test func valuesAtPaths() throws {
        let token = try Self.token(Self.sample)
        #expect(token.value(at: "org.seats") == .integer(12))
        #expect(token.value(at: "ratio") == .number(0.5))
        #expect(token.value(at: "https://example.com/tenant") == "acme")
        #expect(token.value(at: "org") == ["id": "org-42", "tier": ["name": "gold"], "seats": 12, "tags": ["eu", "beta"]])
        #expect(token.value(at: "org.") == nil)
        #expect(token.value(at: "") == nil)
        #expect(token.value(at: "absent") == nil)
        #expect(token.value(at: "nothing") == .null)
        #expect(token.claims["role"] == "member")
        #expect(token.claims.count == Self.sample.count + 2)
    }

    /// Header texts for each JSON type; CR/LF values are refused.
    @Test func headerValues() throws {
        let token = try Self.token(Self.sample)
        #expect(token.headerValue(at: "sub") == "alice")
        #expect(token.headerValue(at: "org.id") == "org-42")
        #expect(token.headerValue(at: "level") == "3")
        #expect(token.headerValue(at: "ratio") == "0.5")
        #expect(token.headerValue(at: "admin") == "false")
        #expect(token.headerValue(at: "roles") == "reader,writer")
        #expect(token.headerValue(at: "mixed") == "a,1,true")
        #expect(token.headerValue(at: "org.tier") == #"{"name":"gold"}"#)
        #expect(token.headerValue(at: "nested") == #"[{"x":1}]"#)
        #expect(token.headerValue(at: "nothing") == nil)
        #expect(token.headerValue(at: "absent") == nil)
        // CR/LF would split the header: refused.
        #expect(token.headerValue(at: "evil") == nil)
    }

    /// `payload` is the signed bytes.
    @Test func payloadIsExactlyWhatWasSigned() throws {
        let token = try Self.token(["a": 1])
        let text = String(decoding: token.payload, as: UTF8.self)
        #expect(text == #"{"a":1,"iss":"https://issuer.example","sub":"alice"}"#)
    }

    /// Consumers can build a token for their own tests.
    /// The public initializer builds a usable token.
    @Test func publicInitializer() throws {
        let token = VerifiedToken(algorithm: .rs256, kid: "x", claims: ["sub": "bob", "exp": 10, "org": ["id": 1]], payload: [])
        #expect(token.subject == "bob")
        #expect(token.expiresAt == 10)
        #expect(token.value(at: "org.id") == 1)
        #expect(token.headerValue(at: "org.id") == "1")
    }
}
