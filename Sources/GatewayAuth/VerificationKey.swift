import COpenSSL

/// One verification key bound to the algorithms it may verify.
///
/// Keys are parsed once (at start-up or reload) and hold OpenSSL objects ready for use: the
/// `EVP_PKEY`, plus a pre-initialised verification context per allowed algorithm that each
/// verification copies instead of initialising from scratch. A key of one family never verifies
/// another family's algorithm (RFC 8725 §2.1, §3.1): an RSA public key can never be an HMAC secret.
public struct VerificationKey: Sendable {
    /// The key id matched against a token's `kid` (RFC 7515 §4.1.4); nil matches only tokens
    /// without a `kid`.
    public let id: String?
    /// The algorithms this key may verify, all of one family.
    public let algorithms: Set<JWTAlgorithm>
    /// The parsed key and its per-algorithm templates.
    let material: KeyMaterial

    /// A key whose algorithms have already been checked against its material.
    init(id: String?, algorithms: Set<JWTAlgorithm>, material: KeyMaterial) {
        self.id = id
        self.algorithms = algorithms
        self.material = material
    }

    /// The key family (HMAC, RSA, EC, OKP).
    public var family: JWTAlgorithm.Family { material.family }

    /// A short description of the key material for operators: "RSA 2048", "EC P-256", "Ed25519",
    /// "HMAC 32 bytes". Never the secret.
    public var keyDescription: String { material.summary }

    /// HMAC secret (from a file or environment variable, never a PEM document).
    ///
    /// Refuses secrets shorter than the hash size of any allowed algorithm (RFC 7518 §3.2), an
    /// algorithm outside the HMAC family, and a secret that is a PEM public key or certificate:
    /// that is the classic algorithm-confusion misconfiguration (RFC 8725 §2.1).
    public static func hmac(secret: [UInt8], id: String?, algorithms: Set<JWTAlgorithm>) throws(KeyError) -> VerificationKey {
        let name = id.map { "key \($0)" } ?? "HMAC key"
        guard !algorithms.isEmpty else { throw KeyError("\(name): no algorithms given") }
        for algorithm in algorithms where algorithm.family != .hmac {
            throw KeyError("\(name) is an HMAC secret; it cannot verify \(algorithm.rawValue)")
        }
        if looksLikePEM(secret) {
            throw KeyError("\(name): the secret is a PEM document; public keys and certificates are loaded as public keys, never as HMAC secrets")
        }
        let needed = algorithms.map(\.hashLength).max() ?? 0
        guard secret.count >= needed else {
            throw KeyError("\(name): the secret is \(secret.count) bytes; \(algorithms.sorted(by: { $0.hashLength > $1.hashLength })[0].rawValue) needs at least \(needed) (RFC 7518 §3.2)")
        }
        let material = try KeyMaterial(secret: secret, algorithms: algorithms, name: name)
        return VerificationKey(id: id, algorithms: algorithms, material: material)
    }

    /// Whether bytes start (after whitespace) like a PEM block.
    static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN".utf8)
        guard let start = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else { return false }
        return bytes.count - start >= marker.count && Array(bytes[start..<start + marker.count]) == marker
    }

    /// Checks that a signature over `input` verifies under this key with `algorithm`.
    /// False when the algorithm is not one of this key's.
    public func verifySignature(_ signature: [UInt8], over input: [UInt8], algorithm: JWTAlgorithm) -> Bool {
        guard algorithms.contains(algorithm) else { return false }
        return signature.withUnsafeBytes { sig in
            input.withUnsafeBytes { material.verify(algorithm, input: $0, signature: sig) }
        }
    }
}

extension VerificationKey: CustomStringConvertible {
    /// `id (RSA 2048: RS256, PS256)`.
    public var description: String {
        "\(id ?? "(no kid)") (\(keyDescription): \(algorithms.map(\.rawValue).sorted().joined(separator: ", ")))"
    }
}

/// The OpenSSL side of a key: an owned `EVP_PKEY*` or HMAC secret, and ready-made contexts.
///
/// `@unchecked Sendable` is safe because every stored property is a `let` set in `init` and never
/// mutated afterwards, and the OpenSSL objects are only ever read after init: verification calls
/// `EVP_MD_CTX_copy_ex(out, const in)` and `EVP_MAC_CTX_dup(const src)`, which OpenSSL documents as
/// safe to call concurrently on the same source object (openssl-threads(7): const operations on a
/// shared object are thread-safe), and the per-call copies are private to the calling thread.
/// Everything is freed exactly once, in `deinit`.
final class KeyMaterial: @unchecked Sendable {
    /// The family the key belongs to.
    let family: JWTAlgorithm.Family
    /// "RSA 2048", "EC P-256", …
    let summary: String
    /// The public key (EVP_PKEY*), owned; nil for HMAC.
    let pkey: OpaquePointer?
    /// Per algorithm (indexed by `JWTAlgorithm.index`): EVP_MAC_CTX* already keyed (HMAC).
    let macTemplates: [OpaquePointer?]
    /// Per algorithm: EVP_MD_CTX* after EVP_DigestVerifyInit (RSA, PSS padding, EC, Ed25519).
    let verifyTemplates: [OpaquePointer?]

    /// An HMAC key with one keyed EVP_MAC_CTX per algorithm.
    init(secret: [UInt8], algorithms: Set<JWTAlgorithm>, name: String) throws(KeyError) {
        var macs = [OpaquePointer?](repeating: nil, count: JWTAlgorithm.allCases.count)
        for algorithm in algorithms {
            let ctx = secret.withUnsafeBufferPointer { wsgate_hmac_ctx_new(algorithm.digestName!, $0.baseAddress, $0.count) }
            guard let ctx else {
                for case let made? in macs { EVP_MAC_CTX_free(made) }
                throw KeyError("\(name): OpenSSL could not set up HMAC (\(OpenSSLErrors.drain()))")
            }
            macs[algorithm.index] = ctx
        }
        family = .hmac
        summary = "HMAC \(secret.count) bytes"
        pkey = nil
        macTemplates = macs
        verifyTemplates = [OpaquePointer?](repeating: nil, count: JWTAlgorithm.allCases.count)
    }

    /// A public key; takes ownership of `pkey` (freed here on failure too). The caller has
    /// checked that every algorithm fits the key's type and curve.
    init(publicKey pkey: OpaquePointer, family: JWTAlgorithm.Family, summary: String, algorithms: Set<JWTAlgorithm>, name: String) throws(KeyError) {
        var templates = [OpaquePointer?](repeating: nil, count: JWTAlgorithm.allCases.count)
        for algorithm in algorithms {
            guard let ctx = KeyMaterial.makeVerifyContext(pkey, algorithm) else {
                for case let made? in templates { EVP_MD_CTX_free(made) }
                EVP_PKEY_free(pkey)
                throw KeyError("\(name): OpenSSL could not set up \(algorithm.rawValue) verification (\(OpenSSLErrors.drain()))")
            }
            templates[algorithm.index] = ctx
        }
        self.family = family
        self.summary = summary
        self.pkey = pkey
        macTemplates = [OpaquePointer?](repeating: nil, count: JWTAlgorithm.allCases.count)
        verifyTemplates = templates
    }

    deinit {
        for case let ctx? in macTemplates { EVP_MAC_CTX_free(ctx) }
        for case let ctx? in verifyTemplates { EVP_MD_CTX_free(ctx) }
        if let pkey { EVP_PKEY_free(pkey) }
    }

    /// An EVP_MD_CTX initialised for verifying `algorithm` with `pkey`: digest, and for RSA the
    /// padding (PKCS#1 v1.5, RFC 7518 §3.3; or PSS with MGF1 on the same hash and a salt as long
    /// as the hash, RFC 7518 §3.5). Nil on failure (error queue left for the caller).
    static func makeVerifyContext(_ pkey: OpaquePointer, _ algorithm: JWTAlgorithm) -> OpaquePointer? {
        guard let ctx = EVP_MD_CTX_new() else { return nil }
        var pctx: OpaquePointer? = nil
        var ok = EVP_DigestVerifyInit_ex(ctx, &pctx, algorithm.digestName, nil, nil, pkey, nil) == 1
        if ok, algorithm.family == .rsa {
            if algorithm.isPSS {
                ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
                    && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1
            } else {
                ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1
            }
        }
        if !ok {
            EVP_MD_CTX_free(ctx)
            return nil
        }
        return ctx
    }

    /// Verifies `signature` over `input` with `algorithm` (which must be one this key was built
    /// for; otherwise false). Per-call contexts are copies, private to this call.
    func verify(_ algorithm: JWTAlgorithm, input: UnsafeRawBufferPointer, signature: UnsafeRawBufferPointer) -> Bool {
        if family == .hmac {
            guard let template = macTemplates[algorithm.index] else { return false }
            return verifyMAC(template, algorithm, input: input, signature: signature)
        }
        guard let template = verifyTemplates[algorithm.index] else { return false }
        if let curve = algorithm.ecCurve {
            // JOSE carries R‖S, each exactly the curve's size (RFC 7518 §3.4); OpenSSL wants DER.
            guard signature.count == 2 * curve.coordinateLength else { return false }
            return withUnsafeTemporaryAllocation(byteCount: 2 * curve.coordinateLength + 16, alignment: 1) { der in
                let derCount = ECDSASignature.der(fromRaw: signature, into: der)
                return verifyDigest(template, input: input, signature: UnsafeRawBufferPointer(rebasing: der[0..<derCount]))
            }
        }
        return verifyDigest(template, input: input, signature: signature)
    }

    /// HMAC over the signing input, compared in constant time (CRYPTO_memcmp) against the
    /// signature, which must be exactly the hash length (RFC 7518 §3.2).
    private func verifyMAC(_ template: OpaquePointer, _ algorithm: JWTAlgorithm, input: UnsafeRawBufferPointer, signature: UnsafeRawBufferPointer) -> Bool {
        guard signature.count == algorithm.hashLength else { return false }
        guard let ctx = EVP_MAC_CTX_dup(template) else {
            OpenSSLErrors.clear()
            return false
        }
        defer { EVP_MAC_CTX_free(ctx) }
        return withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { mac in
            let out = mac.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var length = 0
            guard EVP_MAC_update(ctx, input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count) == 1,
                  EVP_MAC_final(ctx, out, &length, 64) == 1,
                  length == signature.count
            else {
                OpenSSLErrors.clear()
                return false
            }
            return CRYPTO_memcmp(out, signature.baseAddress, length) == 0
        }
    }

    /// EVP_DigestVerify on a copy of the template.
    private func verifyDigest(_ template: OpaquePointer, input: UnsafeRawBufferPointer, signature: UnsafeRawBufferPointer) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_MD_CTX_copy_ex(ctx, template) == 1 else {
            OpenSSLErrors.clear()
            return false
        }
        // The copy is used once: let Final work in place instead of duplicating the context again.
        EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE)
        let rc = EVP_DigestVerify(
            ctx,
            signature.baseAddress?.assumingMemoryBound(to: UInt8.self), signature.count,
            input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count)
        if rc != 1 {
            OpenSSLErrors.clear()
            return false
        }
        return true
    }
}

extension JWTAlgorithm {
    /// A dense index for per-algorithm tables.
    var index: Int {
        switch self {
        case .hs256: return 0
        case .hs384: return 1
        case .hs512: return 2
        case .rs256: return 3
        case .rs384: return 4
        case .rs512: return 5
        case .ps256: return 6
        case .ps384: return 7
        case .ps512: return 8
        case .es256: return 9
        case .es384: return 10
        case .edDSA: return 11
        }
    }
}
