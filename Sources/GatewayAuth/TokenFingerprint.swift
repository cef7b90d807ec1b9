import COpenSSL
import GatewayText

/// The first 12 hex digits of the token's SHA-256, for correlating log lines without the token.
/// 48 bits: enough to tell one token's rejections from another's, useless for recovering it.
public func tokenFingerprint(_ token: String) -> String {
    String(tokenDigest(token).prefix(12))
}

/// The token's whole SHA-256 in lowercase hex: what a revocation of one session remembers of its
/// token (the token itself is never stored).
public func tokenDigest(_ token: String) -> String {
    HexText.lowercase(sha256(Array(token.utf8)))
}

/// Whether two secrets are equal, in time that depends on neither's content nor on the length of
/// the common prefix: both are hashed first (so lengths leak nothing either), then the digests
/// are compared with `CRYPTO_memcmp`.
public func secretsEqual(_ a: String, _ b: String) -> Bool {
    let left = sha256(Array(a.utf8))
    let right = sha256(Array(b.utf8))
    return left.withUnsafeBytes { l in right.withUnsafeBytes { r in CRYPTO_memcmp(l.baseAddress, r.baseAddress, 32) == 0 } }
}

private func sha256(_ bytes: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    let ok = bytes.withUnsafeBytes { input in
        EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil) == 1
    }
    precondition(ok, "SHA-256 unavailable")
    return digest
}

/// Cryptographically random bytes (demo secrets), from OpenSSL's DRBG (RAND_bytes).
/// Traps if the DRBG fails: continuing with predictable secrets would be worse.
public func secureRandomBytes(_ count: Int) -> [UInt8] {
    guard count > 0 else { return [] }
    var bytes = [UInt8](repeating: 0, count: count)
    let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) == 1 }
    precondition(ok, "RAND_bytes failed: no secure randomness available")
    return bytes
}
