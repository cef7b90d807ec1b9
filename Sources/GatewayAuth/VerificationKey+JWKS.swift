import CJansson
import COpenSSL

extension VerificationKey {
    /// A JWKS document (RFC 7517 §5): RSA (`n`, `e`), EC P-256/P-384 (`crv`, `x`, `y`) and OKP
    /// Ed25519 (`x`, RFC 8037 §2) keys.
    ///
    /// Each key's algorithms come from its `alg` (which must fit the key and, when `allowed` is
    /// given, be in it), else from its type intersected with `allowed`. Keys that are not for
    /// signatures (`use` other than `sig`, RFC 7517 §4.2; `key_ops` without `verify`, §4.3), of a
    /// type or curve wsgate does not verify, symmetric (`oct`: a published key set never carries
    /// HMAC secrets), or left with no algorithm, are skipped. A supported key that is broken
    /// (missing or bad members) is an error naming its index, and so is a set left with no key.
    /// So is an unsafe key (a weak RSA exponent, a key OpenSSL's public key check refuses): this
    /// strict form is for documents the operator configured (`jwks_file`).
    public static func jwks(json: [UInt8], allowed: Set<JWTAlgorithm>?) throws(KeyError) -> [VerificationKey] {
        var refused: [KeyError] = []
        let keys = try jwks(json: json, allowed: allowed, refused: &refused)
        if let first = refused.first { throw first }
        return keys
    }

    /// The same, for documents an issuer publishes (`jwks_url`): an unsafe key is left out and
    /// its error appended to `refused` (for the log), and the set's other keys still serve. Only
    /// when no usable key remains is that an error.
    public static func jwks(json: [UInt8], allowed: Set<JWTAlgorithm>?, refused: inout [KeyError]) throws(KeyError) -> [VerificationKey] {
        let parsed = json.withUnsafeBytes { JSONDocument.parse($0) }
        let document: UnsafeMutablePointer<json_t>
        switch parsed {
        case .success(let value): document = value
        case .failure(let failure): throw KeyError("JWKS document \(failure.phrase)")
        }
        defer { wsgate_json_decref(document) }
        guard wsgate_json_is_object(document) != 0, let list = json_object_get(document, "keys"),
              wsgate_json_type(list) == JSON_ARRAY
        else {
            throw KeyError("JWKS document is not an object with a \"keys\" array (RFC 7517 §5)")
        }
        var keys: [VerificationKey] = []
        var skipped: [String] = []
        for index in 0..<json_array_size(list) {
            guard let entry = json_array_get(list, index), wsgate_json_is_object(entry) != 0 else {
                throw KeyError("JWKS key #\(index) is not an object")
            }
            let jwk = JSONDocument.object(entry)
            do throws(KeyError) {
                if let key = try jwkKey(jwk, index: index, allowed: allowed, skipped: &skipped) {
                    keys.append(key)
                }
            } catch where error.isUnsafeKey {
                refused.append(error)
                skipped.append(error.description)
            }
        }
        guard !keys.isEmpty else {
            if !refused.isEmpty, skipped.count == refused.count { throw refused[0] }
            let why = skipped.isEmpty ? "" : " (skipped: \(skipped.joined(separator: "; ")))"
            throw KeyError("JWKS document has no usable signature verification key\(why)")
        }
        return keys
    }

    /// One JWK, or nil when it is skipped (with the reason appended to `skipped`).
    private static func jwkKey(_ jwk: [String: JSONValue], index: Int, allowed: Set<JWTAlgorithm>?, skipped: inout [String]) throws(KeyError) -> VerificationKey? {
        var name = "JWKS key #\(index)"
        var kid: String? = nil
        if let value = jwk["kid"] {
            guard let text = value.stringValue else { throw KeyError("\(name): kid is not a string (RFC 7517 §4.5)") }
            kid = text
            name += " (kid \(text))"
        }
        guard let kty = jwk["kty"]?.stringValue else { throw KeyError("\(name): no kty (RFC 7517 §4.1)") }
        if let use = jwk["use"] {
            guard use.stringValue == "sig" else { skipped.append("\(name): use is not sig"); return nil }
        }
        if case .array(let ops)? = jwk["key_ops"], !ops.contains(.string("verify")) {
            skipped.append("\(name): key_ops lacks verify")
            return nil
        }
        let family: JWTAlgorithm.Family
        switch kty {
        case "RSA": family = .rsa
        case "EC": family = .ec
        case "OKP": family = .okp
        default:
            skipped.append("\(name): kty \(kty) is not verified by wsgate")
            return nil
        }
        func member(_ key: String) throws(KeyError) -> [UInt8] {
            guard let text = jwk[key]?.stringValue else { throw KeyError("\(name): missing \(key)") }
            guard let bytes = Base64URL.decode(text), !bytes.isEmpty else { throw KeyError("\(name): \(key) is not base64url") }
            return bytes
        }
        // Which algorithms fit this key: by type, and for EC and OKP by curve.
        var fitting = Set(JWTAlgorithm.all(in: family))
        var pkey: OpaquePointer?
        switch family {
        case .rsa:
            let n = try member("n"), e = try member("e")
            pkey = n.withUnsafeBufferPointer { n in e.withUnsafeBufferPointer { e in
                wsgate_rsa_public_key(n.baseAddress, n.count, e.baseAddress, e.count)
            } }
        case .ec:
            let crv = jwk["crv"]?.stringValue ?? ""
            let group: String
            let length: Int
            switch crv {
            case "P-256": group = "P-256"; length = 32; fitting = [.es256]
            case "P-384": group = "P-384"; length = 48; fitting = [.es384]
            default:
                skipped.append("\(name): curve \(crv) is not verified by wsgate")
                return nil
            }
            let x = try member("x"), y = try member("y")
            // RFC 7518 §6.2.1.2: coordinates are the full size of the field, leading zeros kept.
            guard x.count == length, y.count == length else { throw KeyError("\(name): x and y must be \(length) bytes for \(crv)") }
            pkey = x.withUnsafeBufferPointer { x in y.withUnsafeBufferPointer { y in
                wsgate_ec_public_key(group, x.baseAddress, x.count, y.baseAddress, y.count)
            } }
        case .okp:
            let crv = jwk["crv"]?.stringValue ?? ""
            guard crv == "Ed25519" else {
                skipped.append("\(name): OKP curve \(crv) is not verified by wsgate")
                return nil
            }
            let x = try member("x")
            guard x.count == 32 else { throw KeyError("\(name): an Ed25519 x is 32 bytes (RFC 8037 §2)") }
            pkey = x.withUnsafeBufferPointer { wsgate_ed25519_public_key($0.baseAddress, $0.count) }
        case .hmac:
            return nil
        }
        var algorithms: Set<JWTAlgorithm>
        if let value = jwk["alg"] {
            guard let text = value.stringValue, let algorithm = JWTAlgorithm(rawValue: text), fitting.contains(algorithm) else {
                if let pkey { EVP_PKEY_free(pkey) }
                skipped.append("\(name): alg is not one wsgate verifies with this key")
                return nil
            }
            algorithms = [algorithm]
        } else {
            algorithms = fitting
        }
        if let allowed { algorithms.formIntersection(allowed) }
        guard !algorithms.isEmpty else {
            if let pkey { EVP_PKEY_free(pkey) }
            skipped.append("\(name): none of its algorithms is allowed")
            return nil
        }
        guard let pkey else {
            throw KeyError("\(name): OpenSSL refused the key (\(OpenSSLErrors.drain()))")
        }
        let material = try KeyMaterial.checked(pkey, algorithms: algorithms, name: name)
        return VerificationKey(id: kid, algorithms: algorithms, material: material)
    }
}
