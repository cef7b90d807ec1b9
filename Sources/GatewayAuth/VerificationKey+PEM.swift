import COpenSSL

extension VerificationKey {
    /// PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`), X.509 certificate (`BEGIN CERTIFICATE`) or
    /// PKCS#1 RSA public key (`BEGIN RSA PUBLIC KEY`) holding an RSA (≥ 2048 bits), EC P-256/P-384 or Ed25519 key; every algorithm must fit the
    /// key's type and curve (ES256 needs P-256, ES384 P-384; RFC 7518 §3.4). The certificate's
    /// validity and chain are not checked: it is only a container for a configured key.
    public static func publicKey(pem: [UInt8], id: String?, algorithms: Set<JWTAlgorithm>) throws(KeyError) -> VerificationKey {
        let name = id.map { "key \($0)" } ?? "public key"
        guard !algorithms.isEmpty else { throw KeyError("\(name): no algorithms given") }
        guard let pkey = PEMReader.publicKey(pem) else {
            throw KeyError("\(name): not a PEM public key or certificate (\(OpenSSLErrors.drain()))")
        }
        let material = try KeyMaterial.checked(pkey, algorithms: algorithms, name: name)
        return VerificationKey(id: id, algorithms: algorithms, material: material)
    }
}

extension KeyMaterial {
    /// Inspects `pkey` (taking ownership), checks every algorithm fits it, and builds templates.
    static func checked(_ pkey: OpaquePointer, algorithms: Set<JWTAlgorithm>, name: String) throws(KeyError) -> KeyMaterial {
        let info: KeyInfo
        do throws(KeyError) {
            info = try KeyInfo(pkey, name: name)
            for algorithm in algorithms.sorted(by: { $0.index < $1.index }) {
                try info.check(algorithm, name: name)
            }
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
        return try KeyMaterial(publicKey: pkey, family: info.family, summary: info.summary, algorithms: algorithms, name: name)
    }
}

/// What kind of public key an EVP_PKEY is.
struct KeyInfo {
    /// The family of algorithms it can serve.
    var family: JWTAlgorithm.Family
    /// "RSA 2048", "EC P-256", "Ed25519".
    var summary: String
    /// The EC curve's OpenSSL group name.
    var group: String?

    /// RFC 7518 §3.3: RSA keys of 2048 bits or more.
    static let minimumRSABits: Int32 = 2048

    /// Inspects a key; refuses types and curves wsgate does not verify, RSA under 2048 bits or
    /// with an exponent below 3 or even, and any key OpenSSL's public key check refuses.
    init(_ pkey: OpaquePointer, name: String) throws(KeyError) {
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA:
            let bits = EVP_PKEY_get_bits(pkey)
            guard bits >= KeyInfo.minimumRSABits else {
                throw KeyError("\(name): RSA key of \(bits) bits; at least 2048 are required (RFC 7518 §3.3)", isUnsafeKey: true)
            }
            try KeyInfo.checkRSAExponent(pkey, name: name)
            family = .rsa
            summary = "RSA \(bits)"
        case EVP_PKEY_EC:
            var buffer = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &buffer, buffer.count, &length) == 1 else {
                throw KeyError("\(name): EC key without a named curve (\(OpenSSLErrors.drain()))")
            }
            let group = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            family = .ec
            self.group = group
            switch group {
            case "prime256v1": summary = "EC P-256"
            case "secp384r1": summary = "EC P-384"
            default: throw KeyError("\(name): EC curve \(group) is not supported (P-256 and P-384 are)")
            }
        case EVP_PKEY_ED25519:
            family = .okp
            summary = "Ed25519"
        default:
            throw KeyError("\(name): unsupported key type (RSA, EC P-256/P-384 and Ed25519 are supported)")
        }
        // Whatever the type: RSA modulus and exponent sanity (SP 800-56B §6.4.2.1), an EC point
        // on its curve (SEC 1 §3.2.2.1). Keys come from files and issuers, not from wsgate.
        guard wsgate_public_key_check(pkey) == 1 else {
            throw KeyError("\(name): OpenSSL's public key check refuses this \(summary) key (\(OpenSSLErrors.drain()))", isUnsafeKey: true)
        }
    }

    /// RFC 8017 §3.1: the public exponent is an odd integer of at least 3. With e = 1 a
    /// "signature" that is just the padded message verifies, so anyone could forge tokens; an
    /// even e is no RSA key at all. Checked by wsgate itself, with a message naming the
    /// exponent, before OpenSSL's broader check.
    static func checkRSAExponent(_ pkey: OpaquePointer, name: String) throws(KeyError) {
        var exponent: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &exponent) == 1, let exponent else {
            throw KeyError("\(name): RSA key without a readable public exponent (\(OpenSSLErrors.drain()))", isUnsafeKey: true)
        }
        defer { BN_free(exponent) }
        guard BN_is_odd(exponent) == 1, BN_num_bits(exponent) >= 2 else {
            let value = BN_num_bits(exponent) <= 64 ? "\(BN_get_word(exponent))" : "of \(BN_num_bits(exponent)) bits"
            throw KeyError("\(name): RSA public exponent \(value) is refused; it must be odd and at least 3 (RFC 8017 §3.1), else signatures can be forged", isUnsafeKey: true)
        }
    }

    /// Throws unless `algorithm` can be verified with this key.
    func check(_ algorithm: JWTAlgorithm, name: String) throws(KeyError) {
        guard algorithm.family == family else {
            throw KeyError("\(name) is an \(summary) key; it cannot verify \(algorithm.rawValue)")
        }
        if let curve = algorithm.ecCurve, curve.group != group {
            throw KeyError("\(name) is an \(summary) key; \(algorithm.rawValue) needs \(algorithm == .es256 ? "P-256" : "P-384") (RFC 7518 §3.4)")
        }
    }
}

/// Reading PEM through a memory BIO. `BIO_new_mem_buf` does not copy, so every read happens
/// inside the closure that keeps the bytes alive, and the BIO is freed before it returns.
enum PEMReader {
    /// A public key from SubjectPublicKeyInfo, else from an X.509 certificate, else from a
    /// PKCS#1 `RSA PUBLIC KEY`. Owned by the caller.
    static func publicKey(_ pem: [UInt8]) -> OpaquePointer? {
        if let pkey = read(pem, { PEM_read_bio_PUBKEY($0, nil, nil, nil) }) { return pkey }
        OpenSSLErrors.clear()
        if let cert = read(pem, { PEM_read_bio_X509($0, nil, nil, nil) }) {
            defer { X509_free(cert) }
            return X509_get_pubkey(cert)
        }
        OpenSSLErrors.clear()
        return pem.withUnsafeBufferPointer { wsgate_decode_public_key($0.baseAddress, $0.count, "type-specific", "RSA") }
    }

    /// A private key, PKCS#8 (`BEGIN PRIVATE KEY`) or traditional (`BEGIN RSA PRIVATE KEY`,
    /// `BEGIN EC PRIVATE KEY`). Encrypted keys are refused (no passphrase callback). Owned by the caller.
    static func privateKey(_ pem: [UInt8]) -> OpaquePointer? {
        read(pem) { PEM_read_bio_PrivateKey($0, nil, { _, _, _, _ in 0 }, nil) }
    }

    private static func read<T>(_ pem: [UInt8], _ body: (OpaquePointer) -> T?) -> T? {
        pem.withUnsafeBytes { bytes -> T? in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return body(bio)
        }
    }
}
