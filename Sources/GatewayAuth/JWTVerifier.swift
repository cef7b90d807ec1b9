import CJansson
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Verifies compact JWS tokens against a key set and policy. Thread-safe; build once per snapshot.
///
/// The order follows jwt-kit and RFC 8725 §3: bound the size, split into exactly three segments,
/// decode strictly, parse the header, choose the key by `kid` and check the `alg` is allowed for
/// it, verify the signature, and only then parse the claims (so no claim of an unverified token
/// is ever read) and check `exp`, `nbf`, `iss`, `aud`.
public struct JWTVerifier: Sendable {
    /// The keys, in configuration order.
    public let keys: [VerificationKey]
    /// Claim checks.
    public let policy: VerificationPolicy
    /// Headers already parsed, by their base64url text.
    private let headerCache = JOSEHeaderCache()

    /// Creates a verifier.
    public init(keys: KeySet, policy: VerificationPolicy) {
        self.keys = keys.keys
        self.policy = policy
    }

    /// Verifies a token; `now` is seconds since the epoch.
    public func verify(_ token: String, now: Double) throws(TokenError) -> VerifiedToken {
        var token = token
        let result = token.withUTF8 { utf8 -> Result<VerifiedToken, TokenError> in
            do throws(TokenError) {
                return .success(try verify(utf8: UnsafeRawBufferPointer(utf8), now: now))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Verifies a token given as its UTF-8 bytes (for callers holding a byte buffer).
    public func verify(utf8 token: UnsafeRawBufferPointer, now: Double) throws(TokenError) -> VerifiedToken {
        guard token.count <= policy.maxTokenBytes else {
            throw TokenError(.malformed, "the token is \(token.count) bytes; the limit is \(policy.maxTokenBytes)")
        }
        // Compact serialization: exactly three segments (RFC 7515 §7.1). Five would be a JWE.
        guard let (firstDot, secondDot) = Self.twoDots(token) else {
            let dots = token.reduce(0) { $0 + ($1 == UInt8(ascii: ".") ? 1 : 0) }
            throw TokenError(.malformed, "the token has \(dots + 1) segments; a compact JWS has 3 (RFC 7515 §7.1)")
        }
        let headerText = UnsafeRawBufferPointer(rebasing: token[0..<firstDot])
        let payloadText = UnsafeRawBufferPointer(rebasing: token[(firstDot + 1)..<secondDot])
        let signatureText = UnsafeRawBufferPointer(rebasing: token[(secondDot + 1)...])
        let signingInput = UnsafeRawBufferPointer(rebasing: token[0..<secondDot])

        // Strict base64url for all three segments before anything is parsed. The header and the
        // signature are only needed during this call: they are decoded into one scratch buffer
        // (on the stack for ordinary sizes); the payload is kept for `VerifiedToken.payload`.
        guard let headerLength = Base64URL.decodedLength(headerText.count) else { throw Self.notBase64("header") }
        guard let signatureLength = Base64URL.decodedLength(signatureText.count) else {
            if Base64URL.decodedLength(payloadText.count) == nil { throw Self.notBase64("payload") }
            throw Self.notBase64("signature")
        }
        let outcome = withUnsafeTemporaryAllocation(byteCount: headerLength + signatureLength, alignment: 8) { scratch -> Result<VerifiedToken, TokenError> in
            let header = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<headerLength])
            let signature = UnsafeMutableRawBufferPointer(rebasing: scratch[headerLength...])
            do throws(TokenError) {
                let cached = headerCache.header(for: headerText)
                if cached == nil {
                    guard Base64URL.decode(headerText, into: header) == headerLength else { throw Self.notBase64("header") }
                }
                guard let payload = Base64URL.decode(input: payloadText) else { throw Self.notBase64("payload") }
                guard Base64URL.decode(signatureText, into: signature) == signatureLength else { throw Self.notBase64("signature") }
                let jose: JOSEHeader
                if let cached {
                    jose = cached
                } else {
                    jose = try JOSEHeader.parse(UnsafeRawBufferPointer(header))
                    headerCache.store(jose, for: headerText)
                }
                try verifySignature(UnsafeRawBufferPointer(signature), over: signingInput, header: jose)
                return .success(try checkClaims(payload, header: jose, now: now))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// The offsets of the only two dots, or nil when there are not exactly two (memchr: the
    /// token is scanned at vector speed).
    @inline(__always)
    private static func twoDots(_ token: UnsafeRawBufferPointer) -> (Int, Int)? {
        guard let base = token.baseAddress else { return nil }
        let dot = Int32(UInt8(ascii: "."))
        guard let first = memchr(base, dot, token.count) else { return nil }
        let firstOffset = base.distance(to: UnsafeRawPointer(first))
        guard let second = memchr(first + 1, dot, token.count - firstOffset - 1) else { return nil }
        let secondOffset = base.distance(to: UnsafeRawPointer(second))
        if memchr(second + 1, dot, token.count - secondOffset - 1) != nil { return nil }
        return (firstOffset, secondOffset)
    }

    private static func notBase64(_ segment: String) -> TokenError {
        TokenError(.malformed, "the \(segment) is not unpadded base64url (RFC 7515 §2)")
    }

    /// Chooses candidate keys (RFC 7515 §4.1.4 `kid`; otherwise the first key bound to `alg`, or
    /// every such key with `tryAllKeys`) and tries each until one verifies.
    ///
    /// Without a kid only one key is tried by default: RFC 7515 §6 leaves key selection to the
    /// application, and trying all of them would let one forged token cost a signature check per
    /// configured key (with ten RSA keys, ten).
    private func verifySignature(_ signature: UnsafeRawBufferPointer, over input: UnsafeRawBufferPointer, header: JOSEHeader) throws(TokenError) {
        let algorithm = header.algorithm
        var keyFound = false
        var candidateFound = false
        var firstCandidate: VerificationKey?
        for key in keys {
            if let kid = header.kid {
                guard key.id == kid else { continue }
            }
            keyFound = true
            guard key.algorithms.contains(algorithm) else { continue }
            if header.kid == nil && candidateFound && !policy.tryAllKeys {
                throw TokenError(
                    .signatureInvalid,
                    "the \(algorithm.rawValue) signature does not verify with \(Self.describe(firstCandidate)), the first key allowed \(algorithm.rawValue); a token without kid is checked against that key only (auth.try_all_keys)"
                )
            }
            candidateFound = true
            firstCandidate = firstCandidate ?? key
            if key.material.verify(algorithm, input: input, signature: signature) { return }
        }
        if let kid = header.kid {
            if !keyFound {
                throw TokenError(.unknownKey, "no configured key has this kid", kid: kid)
            }
            if !candidateFound {
                throw TokenError(.algorithmNotAllowed, "key \(JOSEHeader.printable(kid)) is not allowed to verify \(algorithm.rawValue)", kid: kid)
            }
        } else if !candidateFound {
            throw TokenError(.algorithmNotAllowed, "no configured key is allowed to verify \(algorithm.rawValue)")
        }
        throw TokenError(.signatureInvalid, "the \(algorithm.rawValue) signature does not verify", kid: header.kid)
    }

    /// "key ID" or "the key without id" for a refusal's detail (ids come from the configuration).
    private static func describe(_ key: VerificationKey?) -> String {
        key?.id.map { "key \(JOSEHeader.printable($0))" } ?? "the key without id"
    }

    /// Parses the verified payload and checks the registered claims (RFC 7519 §4.1), reading
    /// them in place from the parsed document.
    private func checkClaims(_ payload: [UInt8], header: JOSEHeader, now: Double) throws(TokenError) -> VerifiedToken {
        let kid = header.kid
        let document: ClaimsDocument
        switch payload.withUnsafeBytes({ JSONDocument.parse($0) }) {
        case .success(let parsed): document = ClaimsDocument(owning: parsed)
        case .failure(let failure): throw TokenError(.malformed, "the claims set \(failure.phrase)", kid: kid)
        }
        guard wsgate_json_is_object(document.root) != 0 else {
            throw TokenError(.malformed, "the claims set is not a JSON object (RFC 7519 §7.2)", kid: kid)
        }

        // iss and sub must be strings (RFC 7519 §4.1.1, §4.1.2); their text is only built into
        // Swift strings for a refusal, which reports them.
        let issuerValue = document.member("iss")
        let subjectValue = document.member("sub")
        if let issuerValue, wsgate_json_type(issuerValue) != JSON_STRING {
            throw TokenError(.malformed, "iss is not a string (RFC 7519 §4.1.1)", kid: kid)
        }
        if let subjectValue, wsgate_json_type(subjectValue) != JSON_STRING {
            throw TokenError(.malformed, "sub is not a string (RFC 7519 §4.1.2)", kid: kid, issuer: issuerValue.flatMap(JSONDocument.string))
        }
        func fail(_ reason: TokenFailure, _ detail: String) -> TokenError {
            TokenError(reason, detail, kid: kid, issuer: issuerValue.flatMap(JSONDocument.string),
                       subject: subjectValue.flatMap(JSONDocument.string))
        }
        let leeway = Double(policy.leewaySeconds)

        // RFC 7519 §4.1.4: the current time MUST be before exp.
        if let value = document.member("exp") {
            guard let exp = JSONDocument.number(value) else { throw fail(.malformed, "exp is not a NumericDate (RFC 7519 §4.1.4)") }
            if now >= exp + leeway {
                throw fail(.expired, "expired \(Self.seconds(now - exp)) s ago\(leewayNote)")
            }
        }
        // RFC 7519 §4.1.5: the current time MUST be after or equal to nbf.
        if let value = document.member("nbf") {
            guard let nbf = JSONDocument.number(value) else { throw fail(.malformed, "nbf is not a NumericDate (RFC 7519 §4.1.5)") }
            if now < nbf - leeway {
                throw fail(.notYetValid, "not valid for another \(Self.seconds(nbf - now)) s\(leewayNote)")
            }
        }
        if let value = document.member("iat"), JSONDocument.number(value) == nil {
            throw fail(.malformed, "iat is not a NumericDate (RFC 7519 §4.1.6)")
        }
        if !policy.issuers.isEmpty {
            guard let issuerValue else { throw fail(.issuerMismatch, "the token has no iss") }
            guard policy.issuers.contains(where: { JSONDocument.string(issuerValue, equals: $0) }) else {
                throw fail(.issuerMismatch, "iss is not an accepted issuer")
            }
        }
        // RFC 7519 §4.1.3: aud is a string or an array of strings; one must be ours.
        var audienceMatched = false
        var audiencePresent = false
        if let aud = document.member("aud") {
            switch wsgate_json_type(aud) {
            case JSON_STRING:
                audiencePresent = true
                audienceMatched = policy.audiences.contains { JSONDocument.string(aud, equals: $0) }
            case JSON_ARRAY:
                for index in 0..<json_array_size(aud) {
                    guard let item = json_array_get(aud, index), wsgate_json_type(item) == JSON_STRING else {
                        throw fail(.malformed, "aud holds a non-string (RFC 7519 §4.1.3)")
                    }
                    audiencePresent = true
                    if !audienceMatched { audienceMatched = policy.audiences.contains { JSONDocument.string(item, equals: $0) } }
                }
            default:
                throw fail(.malformed, "aud is neither a string nor an array (RFC 7519 §4.1.3)")
            }
        }
        if !policy.audiences.isEmpty && !audienceMatched {
            throw fail(.audienceMismatch, audiencePresent ? "aud names none of the accepted audiences" : "the token has no aud")
        }
        return VerifiedToken(algorithm: header.algorithm, kid: kid, payload: payload, document: document)
    }

    /// " (leeway 30 s)" when there is a leeway.
    private var leewayNote: String { policy.leewaySeconds > 0 ? " (leeway \(policy.leewaySeconds) s)" : "" }

    /// Whole seconds for a detail string, at least 0.
    private static func seconds(_ value: Double) -> Int64 {
        guard value.isFinite else { return 0 }
        return Int64(max(0, min(value, 1e15)).rounded(.down))
    }
}
