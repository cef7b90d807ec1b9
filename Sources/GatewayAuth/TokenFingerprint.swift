import COpenSSL

/// The first 12 hex digits of the token's SHA-256, for correlating log lines without the token.
/// 48 bits: enough to tell one token's rejections from another's, useless for recovering it.
public func tokenFingerprint(_ token: String) -> String {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    let bytes = Array(token.utf8)
    let ok = bytes.withUnsafeBytes { input in
        EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil) == 1
    }
    precondition(ok, "SHA-256 unavailable")
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(12)
    for byte in digest.prefix(6) {
        out.append(hex[Int(byte >> 4)])
        out.append(hex[Int(byte & 15)])
    }
    return String(decoding: out, as: UTF8.self)
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
