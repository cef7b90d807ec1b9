import GatewayAuth
import Testing

/// A named token from `Fixtures/tokens.json` with the outcome it must get: accepted (`nil`) or
/// refused with exactly one reason (model: Envoy jwt_authn's `test_common.h` token table).
struct TokenFixture: Sendable, CustomTestStringConvertible {
    /// The name in tokens.json.
    let name: String
    /// The exact refusal, or nil when the token must verify.
    let expected: TokenFailure?

    /// A fixture by name and outcome.
    init(_ name: String, _ expected: TokenFailure?) {
        self.name = name
        self.expected = expected
    }

    /// "expired → token_expired" in test output.
    var testDescription: String { "\(name) → \(expected.map { "\($0)" } ?? "ok")" }

    /// The token text.
    var token: String { FixtureSet.shared.tokens[name]! }

    /// PyJWT HS256 with every claim right: accepted.
    static let valid = TokenFixture("valid", nil)
    /// PyJWT RS256 without kid: candidates chosen by alg: accepted.
    static let validRS256NoKid = TokenFixture("validRS256NoKid", nil)
    /// PyJWT ES256, R‖S signature: accepted.
    static let validES256 = TokenFixture("validES256", nil)
    /// PyJWT RS256 signed with the JWKS RSA key: accepted.
    static let jwksKeyValid = TokenFixture("jwksKeyValid", nil)
    /// Exp 100 s before now: expired.
    static let expired = TokenFixture("expired", .expired)
    /// Exp + leeway == now: RFC 7519 §4.1.4 wants now strictly before: expired.
    static let expiredAtLeewayEdge = TokenFixture("expiredAtLeewayEdge", .expired)
    /// One second inside the leeway: accepted.
    static let expiryWithinLeeway = TokenFixture("expiryWithinLeeway", nil)
    /// Nbf 100 s after now: notYetValid.
    static let notYetValid = TokenFixture("notYetValid", .notYetValid)
    /// Nbf - leeway == now is valid: accepted.
    static let notBeforeAtLeewayEdge = TokenFixture("notBeforeAtLeewayEdge", nil)
    /// One second beyond the leeway: notYetValid.
    static let notBeforeBeyondLeeway = TokenFixture("notBeforeBeyondLeeway", .notYetValid)
    /// Iss of another issuer: issuerMismatch.
    static let wrongIssuer = TokenFixture("wrongIssuer", .issuerMismatch)
    /// Issuers configured, no iss: issuerMismatch.
    static let missingIssuer = TokenFixture("missingIssuer", .issuerMismatch)
    /// Aud names another service: audienceMismatch.
    static let wrongAudience = TokenFixture("wrongAudience", .audienceMismatch)
    /// Aud array containing ours: accepted.
    static let audienceArray = TokenFixture("audienceArray", nil)
    /// Aud array naming only other services: audienceMismatch.
    static let audienceArrayWithoutOurs = TokenFixture("audienceArrayWithoutOurs", .audienceMismatch)
    /// Audiences configured, token has no aud: audienceMismatch.
    static let missingAudience = TokenFixture("missingAudience", .audienceMismatch)
    /// Kid no configured key has: unknownKey.
    static let unknownKid = TokenFixture("unknownKid", .unknownKey)
    /// Alg none, empty signature (RFC 8725 §3.1): algorithmNotAllowed.
    static let algNone = TokenFixture("algNone", .algorithmNotAllowed)
    /// Alg None, empty signature (RFC 8725 §3.1): algorithmNotAllowed.
    static let algNoneCapitalized = TokenFixture("algNoneCapitalized", .algorithmNotAllowed)
    /// Alg NONE, empty signature (RFC 8725 §3.1): algorithmNotAllowed.
    static let algNoneUpper = TokenFixture("algNoneUpper", .algorithmNotAllowed)
    /// Alg nOnE, empty signature (RFC 8725 §3.1): algorithmNotAllowed.
    static let algNoneMixed = TokenFixture("algNoneMixed", .algorithmNotAllowed)
    /// Alg none with the valid token's signature attached: algorithmNotAllowed.
    static let algNoneWithSignature = TokenFixture("algNoneWithSignature", .algorithmNotAllowed)
    /// HMAC with the RSA public key PEM as secret, kid of the RSA key (RFC 8725 §2.1): algorithmNotAllowed.
    static let hs256KeyedWithRSAPublicKey = TokenFixture("hs256KeyedWithRSAPublicKey", .algorithmNotAllowed)
    /// Same without kid: only real HMAC keys are candidates, and they do not verify: signatureInvalid.
    static let hs256KeyedWithRSAPublicKeyNoKid = TokenFixture("hs256KeyedWithRSAPublicKeyNoKid", .signatureInvalid)
    /// Role changed after signing: signatureInvalid.
    static let tamperedPayload = TokenFixture("tamperedPayload", .signatureInvalid)
    /// One bit flipped: signatureInvalid.
    static let tamperedSignature = TokenFixture("tamperedSignature", .signatureInvalid)
    /// Empty signature segment: signatureInvalid.
    static let strippedSignature = TokenFixture("strippedSignature", .signatureInvalid)
    /// 16 of 32 bytes: signatureInvalid.
    static let truncatedSignature = TokenFixture("truncatedSignature", .signatureInvalid)
    /// '*' in the payload: malformed.
    static let badBase64 = TokenFixture("badBase64", .malformed)
    /// '+' and '/' are not base64url: malformed.
    static let standardBase64Alphabet = TokenFixture("standardBase64Alphabet", .malformed)
    /// Base64url padding: malformed.
    static let paddedSignature = TokenFixture("paddedSignature", .malformed)
    /// Base64url padding: malformed.
    static let paddedHeader = TokenFixture("paddedHeader", .malformed)
    /// Trailing newline: malformed.
    static let whitespace = TokenFixture("whitespace", .malformed)
    /// Non-zero unused bits: same bytes to a lenient decoder (RFC 4648 §3.5): malformed.
    static let nonCanonicalBase64 = TokenFixture("nonCanonicalBase64", .malformed)
    /// Header and payload, no signature segment: malformed.
    static let twoSegments = TokenFixture("twoSegments", .malformed)
    /// A valid token with one segment too many: malformed.
    static let fourSegments = TokenFixture("fourSegments", .malformed)
    /// The shape of a JWE (RFC 7516): malformed.
    static let fiveSegments = TokenFixture("fiveSegments", .malformed)
    /// The empty string: malformed.
    static let emptyToken = TokenFixture("emptyToken", .malformed)
    /// Alg twice; parsers disagree on which wins: malformed.
    static let duplicateHeaderKey = TokenFixture("duplicateHeaderKey", .malformed)
    /// Sub twice in a correctly signed payload: malformed.
    static let duplicatePayloadKey = TokenFixture("duplicatePayloadKey", .malformed)
    /// Claims set that is a JSON array: malformed.
    static let nonObjectPayload = TokenFixture("nonObjectPayload", .malformed)
    /// Claims set that is a JSON string: malformed.
    static let stringPayload = TokenFixture("stringPayload", .malformed)
    /// Header that is a JSON array: malformed.
    static let nonObjectHeader = TokenFixture("nonObjectHeader", .malformed)
    /// Header that is not JSON at all: malformed.
    static let headerNotJSON = TokenFixture("headerNotJSON", .malformed)
    /// Header without alg: malformed.
    static let missingAlg = TokenFixture("missingAlg", .malformed)
    /// Alg is a number, not a string: malformed.
    static let algNotString = TokenFixture("algNotString", .malformed)
    /// Kid is a number: malformed.
    static let kidNotString = TokenFixture("kidNotString", .malformed)
    /// ES512, a JOSE alg wsgate does not verify: algorithmNotAllowed.
    static let unsupportedAlg = TokenFixture("unsupportedAlg", .algorithmNotAllowed)
    /// Alg is case-sensitive (RFC 7515 §4.1.1): algorithmNotAllowed.
    static let lowercaseAlg = TokenFixture("lowercaseAlg", .algorithmNotAllowed)
    /// Exp as a string: malformed.
    static let nonNumericExp = TokenFixture("nonNumericExp", .malformed)
    /// Nbf as a bool: malformed.
    static let nonNumericNbf = TokenFixture("nonNumericNbf", .malformed)
    /// Iss is an array: malformed.
    static let nonStringIssuer = TokenFixture("nonStringIssuer", .malformed)
    /// Aud is a number: malformed.
    static let numericAudience = TokenFixture("numericAudience", .malformed)
    /// RFC 7515 §4.1.11: malformed.
    static let unknownCrit = TokenFixture("unknownCrit", .malformed)
    /// Crit must not be empty either: malformed.
    static let emptyCrit = TokenFixture("emptyCrit", .malformed)
    /// Above max_token_bytes: malformed.
    static let oversize = TokenFixture("oversize", .malformed)
    /// 200 nested arrays: malformed.
    static let deepNesting = TokenFixture("deepNesting", .malformed)
    /// 100 nested arrays inside the header: malformed.
    static let deepNestingHeader = TokenFixture("deepNestingHeader", .malformed)
    /// 63 bytes, R‖S needs 64: signatureInvalid.
    static let es256SignatureTooShort = TokenFixture("es256SignatureTooShort", .signatureInvalid)
    /// 65 bytes: signatureInvalid.
    static let es256SignatureTooLong = TokenFixture("es256SignatureTooLong", .signatureInvalid)
    /// DER instead of R‖S (RFC 7518 §3.4): signatureInvalid.
    static let es256SignatureDER = TokenFixture("es256SignatureDER", .signatureInvalid)
    /// Kid of an EC key, RSA alg: algorithmNotAllowed.
    static let rs256WithECKey = TokenFixture("rs256WithECKey", .algorithmNotAllowed)
    /// P-256 key never verifies ES384: algorithmNotAllowed.
    static let es384WithP256Key = TokenFixture("es384WithP256Key", .algorithmNotAllowed)
    /// EdDSA alg with the kid of the RSA key: algorithmNotAllowed.
    static let eddsaWithRSAKey = TokenFixture("eddsaWithRSAKey", .algorithmNotAllowed)
    /// PKCS#1 v1.5 signature presented as PSS: signatureInvalid.
    static let rs256SignatureAsPS256 = TokenFixture("rs256SignatureAsPS256", .signatureInvalid)
    /// PSS with maximum salt; RFC 7518 §3.5 fixes salt = hash length: signatureInvalid.
    static let ps256WrongSaltLength = TokenFixture("ps256WrongSaltLength", .signatureInvalid)
    /// Signed by the key in its own jwk header; never trusted (RFC 8725 §3.10): signatureInvalid.
    static let embeddedJWK = TokenFixture("embeddedJWK", .signatureInvalid)
    /// Jku is never fetched: signatureInvalid.
    static let jkuHeader = TokenFixture("jkuHeader", .signatureInvalid)
    /// The JWK says alg RS256: algorithmNotAllowed.
    static let jwksKeyAlgNotAllowed = TokenFixture("jwksKeyAlgNotAllowed", .algorithmNotAllowed)
    /// Use: enc keys are skipped when loading: unknownKey.
    static let jwksEncryptionKey = TokenFixture("jwksEncryptionKey", .unknownKey)

    /// NUL right after a number in the header, correctly signed: malformed.
    static let headerNulAfterNumber = TokenFixture("headerNulAfterNumber", .malformed)
    /// NUL right after a literal in the header, correctly signed: malformed.
    static let headerNulAfterLiteral = TokenFixture("headerNulAfterLiteral", .malformed)
    /// NUL inside a string in the header, correctly signed: malformed.
    static let headerNulInString = TokenFixture("headerNulInString", .malformed)
    /// NUL after the closing brace in the header, correctly signed: malformed.
    static let headerNulAtEnd = TokenFixture("headerNulAtEnd", .malformed)
    /// Overlong encoding of '/' (RFC 3629 §3) in the header, correctly signed: malformed.
    static let headerOverlongUTF8 = TokenFixture("headerOverlongUTF8", .malformed)
    /// U+D800 encoded as UTF-8 (RFC 3629 §3) in the header, correctly signed: malformed.
    static let headerEncodedSurrogate = TokenFixture("headerEncodedSurrogate", .malformed)
    /// A 3-byte sequence cut after 2 bytes in the header, correctly signed: malformed.
    static let headerTruncatedUTF8 = TokenFixture("headerTruncatedUTF8", .malformed)
    /// NUL right after a number in the claims set, correctly signed: malformed.
    static let payloadNulAfterNumber = TokenFixture("payloadNulAfterNumber", .malformed)
    /// NUL right after a literal in the claims set, correctly signed: malformed.
    static let payloadNulAfterLiteral = TokenFixture("payloadNulAfterLiteral", .malformed)
    /// NUL inside a string in the claims set, correctly signed: malformed.
    static let payloadNulInString = TokenFixture("payloadNulInString", .malformed)
    /// NUL after the closing brace in the claims set, correctly signed: malformed.
    static let payloadNulAtEnd = TokenFixture("payloadNulAtEnd", .malformed)
    /// Overlong encoding of '/' (RFC 3629 §3) in the claims set, correctly signed: malformed.
    static let payloadOverlongUTF8 = TokenFixture("payloadOverlongUTF8", .malformed)
    /// U+D800 encoded as UTF-8 (RFC 3629 §3) in the claims set, correctly signed: malformed.
    static let payloadEncodedSurrogate = TokenFixture("payloadEncodedSurrogate", .malformed)
    /// A 3-byte sequence cut after 2 bytes in the claims set, correctly signed: malformed.
    static let payloadTruncatedUTF8 = TokenFixture("payloadTruncatedUTF8", .malformed)

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
        .headerNulAfterNumber, .headerNulAfterLiteral, .headerNulInString, .headerNulAtEnd, .headerOverlongUTF8, .headerEncodedSurrogate, .headerTruncatedUTF8,
        .payloadNulAfterNumber, .payloadNulAfterLiteral, .payloadNulInString, .payloadNulAtEnd, .payloadOverlongUTF8, .payloadEncodedSurrogate, .payloadTruncatedUTF8,
    ]
}

/// Each named fixture gets exactly its outcome.
struct TokenFixtureTests {
    /// The one table-driven test: verified at the fixtures' clock, each token gets exactly its
    /// outcome, and a refusal's detail never quotes the token.
    @Test(arguments: TokenFixture.all)
    func outcome(_ fixture: TokenFixture) {
        let set = FixtureSet.shared
        let token = fixture.token
        do {
            let verified = try set.verifier.verify(token, now: set.now)
            #expect(fixture.expected == nil, "accepted, expected \(fixture.expected.map { "\($0)" } ?? "")")
            #expect(verified.subject == "alice")
        } catch {
            #expect(error.reason == fixture.expected, "\(error)")
            // A detail never quotes the token or any of its segments.
            for segment in token.split(separator: ".") where segment.count >= 8 {
                #expect(!error.detail.contains(segment))
            }
        }
    }

    /// NUL bytes and broken UTF-8 in the decoded header or claims set are refused before jansson
    /// parses them, with a detail saying which (and no quote of the bytes).
    @Test(arguments: [
        (TokenFixture.headerNulAfterNumber, "the header contains a NUL byte"),
        (.headerNulAfterLiteral, "the header contains a NUL byte"),
        (.headerNulInString, "the header contains a NUL byte"),
        (.headerNulAtEnd, "the header contains a NUL byte"),
        (.headerOverlongUTF8, "the header is not valid UTF-8 (RFC 8259 §8.1)"),
        (.headerEncodedSurrogate, "the header is not valid UTF-8 (RFC 8259 §8.1)"),
        (.headerTruncatedUTF8, "the header is not valid UTF-8 (RFC 8259 §8.1)"),
        (.payloadNulAfterNumber, "the claims set contains a NUL byte"),
        (.payloadNulAfterLiteral, "the claims set contains a NUL byte"),
        (.payloadNulInString, "the claims set contains a NUL byte"),
        (.payloadNulAtEnd, "the claims set contains a NUL byte"),
        (.payloadOverlongUTF8, "the claims set is not valid UTF-8 (RFC 8259 §8.1)"),
        (.payloadEncodedSurrogate, "the claims set is not valid UTF-8 (RFC 8259 §8.1)"),
        (.payloadTruncatedUTF8, "the claims set is not valid UTF-8 (RFC 8259 §8.1)"),
    ])
    func hostileBytesInJSON(_ fixture: TokenFixture, detail: String) throws {
        let set = FixtureSet.shared
        let error = try #require(throws: TokenError.self) { try set.verifier.verify(fixture.token, now: set.now) }
        #expect(error.reason == .malformed)
        #expect(error.detail == detail)
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
