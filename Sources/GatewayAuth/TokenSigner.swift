import COpenSSL

/// Mints compact JWS tokens (CLI `wsgate token`, demo, tests).
public struct TokenSigner: Sendable {
    /// The algorithm written into `alg`.
    public let algorithm: JWTAlgorithm
    /// The `kid` written into the header, when given.
    public let kid: String?
    private let material: SigningMaterial

    /// HMAC signer. Refuses a secret shorter than the hash (RFC 7518 §3.2).
    public static func hmac(_ algorithm: JWTAlgorithm, secret: [UInt8], kid: String? = nil) throws(KeyError) -> TokenSigner {
        guard algorithm.family == .hmac else { throw KeyError("\(algorithm.rawValue) is not an HMAC algorithm; it needs a private key") }
        guard secret.count >= algorithm.hashLength else {
            throw KeyError("the secret is \(secret.count) bytes; \(algorithm.rawValue) needs at least \(algorithm.hashLength) (RFC 7518 §3.2)")
        }
        return TokenSigner(algorithm: algorithm, kid: kid, material: SigningMaterial(secret: secret, pkey: nil))
    }

    /// Private key (PEM, PKCS#8 or traditional) signer for RS/PS/ES/EdDSA; the key must fit the
    /// algorithm (type, and curve for ES256/ES384).
    public static func privateKey(_ algorithm: JWTAlgorithm, pem: [UInt8], kid: String? = nil) throws(KeyError) -> TokenSigner {
        guard algorithm.family != .hmac else { throw KeyError("\(algorithm.rawValue) signs with a secret, not a private key") }
        guard let pkey = PEMReader.privateKey(pem) else {
            throw KeyError("not a PEM private key (\(OpenSSLErrors.drain()))")
        }
        let material = SigningMaterial(secret: [], pkey: pkey)  // owns pkey from here
        let info = try KeyInfo(pkey, name: "private key")
        try info.check(algorithm, name: "private key")
        return TokenSigner(algorithm: algorithm, kid: kid, material: material)
    }

    /// A signer with a freshly generated key pair (RSA 2048, EC P-256/P-384, Ed25519), or a
    /// random secret of the hash length for HMAC: for the demo, benchmarks and tests.
    public static func generating(_ algorithm: JWTAlgorithm, kid: String? = nil) throws(KeyError) -> TokenSigner {
        if algorithm.family == .hmac {
            return try hmac(algorithm, secret: secureRandomBytes(algorithm.hashLength), kid: kid)
        }
        let pkey: OpaquePointer?
        switch algorithm.family {
        case .rsa: pkey = wsgate_generate_key("RSA", nil, 2048)
        case .ec: pkey = wsgate_generate_key("EC", algorithm == .es256 ? "P-256" : "P-384", 0)
        default: pkey = wsgate_generate_key("ED25519", nil, 0)
        }
        guard let pkey else { throw KeyError("key generation failed (\(OpenSSLErrors.drain()))") }
        return TokenSigner(algorithm: algorithm, kid: kid, material: SigningMaterial(secret: [], pkey: pkey))
    }

    /// The public key as PEM SubjectPublicKeyInfo, for `VerificationKey.publicKey(pem:)`; nil for HMAC.
    public var publicKeyPEM: [UInt8]? {
        guard let pkey = material.pkey else { return nil }
        return Self.pem(pkey, privateKey: false)
    }

    /// The private key as unencrypted PKCS#8 PEM (to write a development key file); nil for HMAC.
    public var privateKeyPEM: [UInt8]? {
        guard let pkey = material.pkey else { return nil }
        return Self.pem(pkey, privateKey: true)
    }

    /// The HMAC secret, for building the matching `VerificationKey`; nil for key pairs.
    public var secret: [UInt8]? { material.pkey == nil ? material.secret : nil }

    /// A verification key matching this signer, bound to its algorithm.
    public func verificationKey(id: String? = nil) throws(KeyError) -> VerificationKey {
        if let publicKeyPEM {
            return try .publicKey(pem: publicKeyPEM, id: id ?? kid, algorithms: [algorithm])
        }
        return try .hmac(secret: material.secret, id: id ?? kid, algorithms: [algorithm])
    }

    private static func pem(_ pkey: OpaquePointer, privateKey: Bool) -> [UInt8]? {
        let length = wsgate_key_pem(pkey, privateKey ? 1 : 0, nil, 0)
        guard length > 0 else {
            OpenSSLErrors.clear()
            return nil
        }
        var out = [UInt8](repeating: 0, count: length)
        guard wsgate_key_pem(pkey, privateKey ? 1 : 0, &out, out.count) == length else { return nil }
        return out
    }

    private init(algorithm: JWTAlgorithm, kid: String?, material: SigningMaterial) {
        self.algorithm = algorithm
        self.kid = kid
        self.material = material
    }

    /// The protected header this signer writes: `{"alg":…,"kid":…,"typ":"JWT"}` (RFC 7519 §5.1).
    public var headerJSON: String {
        var members: [String: JSONValue] = ["alg": .string(algorithm.rawValue), "typ": "JWT"]
        if let kid { members["kid"] = .string(kid) }
        return JSONValue.object(members).jsonText
    }

    /// Signs a claims object; returns the compact token.
    public func sign(claims: [String: JSONValue]) throws(KeyError) -> String {
        try sign(headerJSON: Array(headerJSON.utf8), payloadJSON: Array(JSONValue.object(claims).jsonText.utf8))
    }

    /// Signs exact header and payload bytes, whatever they hold (for tests and tools that need
    /// byte-level control, e.g. a header with `crit`). `alg` in the header is not checked.
    public func sign(headerJSON: [UInt8], payloadJSON: [UInt8]) throws(KeyError) -> String {
        let signingInput = Base64URL.encode(headerJSON) + "." + Base64URL.encode(payloadJSON)
        let signature = try signature(over: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// The raw JWS signature over `input` (R‖S for ECDSA, RFC 7518 §3.4).
    public func signature(over input: [UInt8]) throws(KeyError) -> [UInt8] {
        if let pkey = material.pkey {
            return try Self.sign(input, algorithm: algorithm, pkey: pkey)
        }
        return try Self.mac(input, algorithm: algorithm, secret: material.secret)
    }

    private static func mac(_ input: [UInt8], algorithm: JWTAlgorithm, secret: [UInt8]) throws(KeyError) -> [UInt8] {
        guard let ctx = secret.withUnsafeBufferPointer({ wsgate_hmac_ctx_new(algorithm.digestName!, $0.baseAddress, $0.count) }) else {
            throw KeyError("HMAC setup failed (\(OpenSSLErrors.drain()))")
        }
        defer { EVP_MAC_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 64)
        var length = 0
        guard EVP_MAC_update(ctx, input, input.count) == 1, EVP_MAC_final(ctx, &out, &length, out.count) == 1 else {
            throw KeyError("HMAC failed (\(OpenSSLErrors.drain()))")
        }
        return Array(out[0..<length])
    }

    private static func sign(_ input: [UInt8], algorithm: JWTAlgorithm, pkey: OpaquePointer) throws(KeyError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw KeyError("out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        var pctx: OpaquePointer? = nil
        var ok = EVP_DigestSignInit_ex(ctx, &pctx, algorithm.digestName, nil, nil, pkey, nil) == 1
        if ok, algorithm.family == .rsa {
            ok = algorithm.isPSS
                ? EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1
                : EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1
        }
        var length = 0
        ok = ok && EVP_DigestSign(ctx, nil, &length, input, input.count) == 1
        var signature = [UInt8](repeating: 0, count: length)
        ok = ok && EVP_DigestSign(ctx, &signature, &length, input, input.count) == 1
        guard ok else { throw KeyError("\(algorithm.rawValue) signing failed (\(OpenSSLErrors.drain()))") }
        signature.removeLast(signature.count - length)
        if let curve = algorithm.ecCurve {
            var raw = [UInt8](repeating: 0, count: 2 * curve.coordinateLength)
            guard wsgate_ecdsa_der_to_raw(signature, signature.count, &raw, curve.coordinateLength) == 1 else {
                throw KeyError("ECDSA signature conversion failed (\(OpenSSLErrors.drain()))")
            }
            return raw
        }
        return signature
    }
}

/// A signer's key: an owned EVP_PKEY* or an HMAC secret.
///
/// `@unchecked Sendable` is safe: both properties are `let`, set in init and never changed, and
/// the key is only read (EVP_DigestSignInit_ex takes its own reference); freed once, in deinit.
private final class SigningMaterial: @unchecked Sendable {
    /// The HMAC secret (empty for key pairs).
    let secret: [UInt8]
    /// The private key, owned (nil for HMAC).
    let pkey: OpaquePointer?
    /// Takes ownership of `pkey`.
    init(secret: [UInt8], pkey: OpaquePointer?) {
        self.secret = secret
        self.pkey = pkey
    }
    deinit { if let pkey { EVP_PKEY_free(pkey) } }
}
