import GatewayAuth
import Testing

/// A named token from `Fixtures/tokens.json` with the outcome it must get: accepted (`nil`) or
/// refused with exactly one reason (model: Envoy jwt_authn's `test_common.h` token table).
struct TokenFixture: Sendable, CustomTestStringConvertible {
    /// The name in tokens.json.
    let name: String
    /// The exact refusal, or nil when the token must verify.
    let expected: TokenFailure?

    init(_ name: String, _ expected: TokenFailure?) {
        self.name = name
        self.expected = expected
    }

    var testDescription: String { "\(name) → \(expected?.rawValue ?? "ok")" }

    /// The token text.
    var token: String { FixtureSet.shared.tokens[name]! }

    static let valid = TokenFixture("valid", nil)
    static let validRS256NoKid = TokenFixture("validRS256NoKid", nil)
    static let validES256 = TokenFixture("validES256", nil)
    static let jwksKeyValid = TokenFixture("jwksKeyValid", nil)
    static let expired = TokenFixture("expired", .expired)
    static let expiredAtLeewayEdge = TokenFixture("expiredAtLeewayEdge", .expired)
    static let expiryWithinLeeway = TokenFixture("expiryWithinLeeway", nil)
    static let notYetValid = TokenFixture("notYetValid", .notYetValid)
    static let notBeforeAtLeewayEdge = TokenFixture("notBeforeAtLeewayEdge", nil)
    static let notBeforeBeyondLeeway = TokenFixture("notBeforeBeyondLeeway", .notYetValid)
    static let wrongIssuer = TokenFixture("wrongIssuer", .issuerMismatch)
    static let missingIssuer = TokenFixture("missingIssuer", .issuerMismatch)
    static let wrongAudience = TokenFixture("wrongAudience", .audienceMismatch)
    static let audienceArray = TokenFixture("audienceArray", nil)
    static let audienceArrayWithoutOurs = TokenFixture("audienceArrayWithoutOurs", .audienceMismatch)
    static let missingAudience = TokenFixture("missingAudience", .audienceMismatch)
    static let unknownKid = TokenFixture("unknownKid", .unknownKey)
    static let algNone = TokenFixture("algNone", .algorithmNotAllowed)
    static let algNoneCapitalized = TokenFixture("algNoneCapitalized", .algorithmNotAllowed)
    static let algNoneUpper = TokenFixture("algNoneUpper", .algorithmNotAllowed)
    static let algNoneMixed = TokenFixture("algNoneMixed", .algorithmNotAllowed)
    static let algNoneWithSignature = TokenFixture("algNoneWithSignature", .algorithmNotAllowed)
    static let hs256KeyedWithRSAPublicKey = TokenFixture("hs256KeyedWithRSAPublicKey", .algorithmNotAllowed)
    static let hs256KeyedWithRSAPublicKeyNoKid = TokenFixture("hs256KeyedWithRSAPublicKeyNoKid", .signatureInvalid)
    static let tamperedPayload = TokenFixture("tamperedPayload", .signatureInvalid)
    static let tamperedSignature = TokenFixture("tamperedSignature", .signatureInvalid)
    static let strippedSignature = TokenFixture("strippedSignature", .signatureInvalid)
    static let truncatedSignature = TokenFixture("truncatedSignature", .signatureInvalid)
    static let badBase64 = TokenFixture("badBase64", .malformed)
    static let standardBase64Alphabet = TokenFixture("standardBase64Alphabet", .malformed)
    static let paddedSignature = TokenFixture("paddedSignature", .malformed)
    static let paddedHeader = TokenFixture("paddedHeader", .malformed)
    static let whitespace = TokenFixture("whitespace", .malformed)
    static let nonCanonicalBase64 = TokenFixture("nonCanonicalBase64", .malformed)
    static let twoSegments = TokenFixture("twoSegments", .malformed)
    static let fourSegments = TokenFixture("fourSegments", .malformed)
    static let fiveSegments = TokenFixture("fiveSegments", .malformed)
    static let emptyToken = TokenFixture("emptyToken", .malformed)
    static let duplicateHeaderKey = TokenFixture("duplicateHeaderKey", .malformed)
    static let duplicatePayloadKey = TokenFixture("duplicatePayloadKey", .malformed)
    static let nonObjectPayload = TokenFixture("nonObjectPayload", .malformed)
    static let stringPayload = TokenFixture("stringPayload", .malformed)
    static let nonObjectHeader = TokenFixture("nonObjectHeader", .malformed)
    static let headerNotJSON = TokenFixture("headerNotJSON", .malformed)
    static let missingAlg = TokenFixture("missingAlg", .malformed)
    static let algNotString = TokenFixture("algNotString", .malformed)
    static let kidNotString = TokenFixture("kidNotString", .malformed)
    static let unsupportedAlg = TokenFixture("unsupportedAlg", .algorithmNotAllowed)
    static let lowercaseAlg = TokenFixture("lowercaseAlg", .algorithmNotAllowed)
    static let nonNumericExp = TokenFixture("nonNumericExp", .malformed)
    static let nonNumericNbf = TokenFixture("nonNumericNbf", .malformed)
    static let nonStringIssuer = TokenFixture("nonStringIssuer", .malformed)
    static let numericAudience = TokenFixture("numericAudience", .malformed)
    static let unknownCrit = TokenFixture("unknownCrit", .malformed)
    static let emptyCrit = TokenFixture("emptyCrit", .malformed)
    static let oversize = TokenFixture("oversize", .malformed)
    static let deepNesting = TokenFixture("deepNesting", .malformed)
    static let deepNestingHeader = TokenFixture("deepNestingHeader", .malformed)
    static let es256SignatureTooShort = TokenFixture("es256SignatureTooShort", .signatureInvalid)
    static let es256SignatureTooLong = TokenFixture("es256SignatureTooLong", .signatureInvalid)
    static let es256SignatureDER = TokenFixture("es256SignatureDER", .signatureInvalid)
    static let rs256WithECKey = TokenFixture("rs256WithECKey", .algorithmNotAllowed)
    static let es384WithP256Key = TokenFixture("es384WithP256Key", .algorithmNotAllowed)
    static let eddsaWithRSAKey = TokenFixture("eddsaWithRSAKey", .algorithmNotAllowed)
    static let rs256SignatureAsPS256 = TokenFixture("rs256SignatureAsPS256", .signatureInvalid)
    static let ps256WrongSaltLength = TokenFixture("ps256WrongSaltLength", .signatureInvalid)
    static let embeddedJWK = TokenFixture("embeddedJWK", .signatureInvalid)
    static let jkuHeader = TokenFixture("jkuHeader", .signatureInvalid)
    static let jwksKeyAlgNotAllowed = TokenFixture("jwksKeyAlgNotAllowed", .algorithmNotAllowed)
    static let jwksEncryptionKey = TokenFixture("jwksEncryptionKey", .unknownKey)

    /// Every named fixture.
    static let all: [TokenFixture] = [
        .valid, .validRS256NoKid, .validES256, .jwksKeyValid,
        .expired, .expiredAtLeewayEdge, .expiryWithinLeeway,
        .notYetValid, .notBeforeAtLeewayEdge, .notBeforeBeyondLeeway,
        .wrongIssuer, .missingIssuer, .wrongAudience, .audienceArray, .audienceArrayWithoutOurs, .missingAudience,
        .unknownKid,
        .algNone, .algNoneCapitalized, .algNoneUpper, .algNoneMixed, .algNoneWithSignature,
        .hs256KeyedWithRSAPublicKey, .hs256KeyedWithRSAPublicKeyNoKid,
        .tamperedPayload, .tamperedSignature, .strippedSignature, .truncatedSignature,
        .badBase64, .standardBase64Alphabet, .paddedSignature, .paddedHeader, .whitespace, .nonCanonicalBase64,
        .twoSegments, .fourSegments, .fiveSegments, .emptyToken,
        .duplicateHeaderKey, .duplicatePayloadKey, .nonObjectPayload, .stringPayload, .nonObjectHeader, .headerNotJSON,
        .missingAlg, .algNotString, .kidNotString, .unsupportedAlg, .lowercaseAlg,
        .nonNumericExp, .nonNumericNbf, .nonStringIssuer, .numericAudience,
        .unknownCrit, .emptyCrit, .oversize, .deepNesting, .deepNestingHeader,
        .es256SignatureTooShort, .es256SignatureTooLong, .es256SignatureDER,
        .rs256WithECKey, .es384WithP256Key, .eddsaWithRSAKey,
        .rs256SignatureAsPS256, .ps256WrongSaltLength, .embeddedJWK, .jkuHeader,
        .jwksKeyAlgNotAllowed, .jwksEncryptionKey,
    ]
}

/// Each named fixture gets exactly its outcome.
struct TokenFixtureTests {
    @Test(arguments: TokenFixture.all)
    func outcome(_ fixture: TokenFixture) {
        let set = FixtureSet.shared
        let token = fixture.token
        do {
            let verified = try set.verifier.verify(token, now: set.now)
            #expect(fixture.expected == nil, "accepted, expected \(fixture.expected?.rawValue ?? "")")
            #expect(verified.subject == "alice")
        } catch {
            #expect(error.reason == fixture.expected, "\(error)")
            // A detail never quotes the token or any of its segments.
            for segment in token.split(separator: ".") where segment.count >= 8 {
                #expect(!error.detail.contains(segment))
            }
        }
    }

    /// The Swift table and the generator's output name the same fixtures, with the same outcomes.
    @Test func tableMatchesGeneratedFixtures() throws {
        #expect(Set(TokenFixture.all.map(\.name)) == Set(FixtureSet.shared.tokens.keys))
        #expect(Set(TokenFixture.all.map(\.name)).count == TokenFixture.all.count)
    }

    /// What a refusal carries: kid once the header parsed; iss and sub only from a verified payload.
    @Test func refusalsCarryWhatIsKnown() throws {
        let set = FixtureSet.shared
        let expired = try #require(throws: TokenError.self) { try set.verifier.verify(TokenFixture.expired.token, now: set.now) }
        #expect(expired.kid == "hs")
        #expect(expired.issuer == "https://issuer.example")
        #expect(expired.subject == "alice")
        #expect(expired.detail == "expired 100 s ago (leeway 30 s)")

        let tampered = try #require(throws: TokenError.self) { try set.verifier.verify(TokenFixture.tamperedPayload.token, now: set.now) }
        #expect(tampered.kid == "hs")
        #expect(tampered.issuer == nil)
        #expect(tampered.subject == nil)

        let none = try #require(throws: TokenError.self) { try set.verifier.verify(TokenFixture.algNone.token, now: set.now) }
        #expect(none.detail.contains("none"))

        let twoSegments = try #require(throws: TokenError.self) { try set.verifier.verify(TokenFixture.twoSegments.token, now: set.now) }
        #expect(twoSegments.kid == nil)
        #expect(twoSegments.detail == "the token has 2 segments; a compact JWS has 3 (RFC 7515 §7.1)")

        let early = try #require(throws: TokenError.self) { try set.verifier.verify(TokenFixture.notYetValid.token, now: set.now) }
        #expect(early.detail == "not valid for another 100 s (leeway 30 s)")
    }

    /// Without leeway the edge fixtures flip; the size bound is the policy's.
    @Test func policyVariations() throws {
        let set = FixtureSet.shared
        var strict = set.policy
        strict.leewaySeconds = 0
        let keys = KeySet(set.verifier.keys)
        let verifier = JWTVerifier(keys: keys, policy: strict)
        #expect(throws: TokenError.self) { try verifier.verify(TokenFixture.expiryWithinLeeway.token, now: set.now) }
        #expect(throws: TokenError.self) { try verifier.verify(TokenFixture.notBeforeAtLeewayEdge.token, now: set.now) }

        var open = set.policy
        open.issuers = []
        open.audiences = []
        let lenient = JWTVerifier(keys: keys, policy: open)
        _ = try lenient.verify(TokenFixture.wrongIssuer.token, now: set.now)
        _ = try lenient.verify(TokenFixture.missingAudience.token, now: set.now)

        var tiny = set.policy
        tiny.maxTokenBytes = 100
        let error = try #require(throws: TokenError.self) {
            try JWTVerifier(keys: keys, policy: tiny).verify(TokenFixture.valid.token, now: set.now)
        }
        #expect(error.reason == .malformed)
    }
}
