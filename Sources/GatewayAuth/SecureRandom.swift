import COpenSSL

/// Random bytes from OpenSSL's DRBG (RAND_bytes(3): per-thread, seeded from the OS, so a handshake
/// costs no getrandom(2) call), for request ids and the gateway's own frame masks.
public enum SecureRandom {
    /// Fills `buffer`; false when OpenSSL could not (the caller falls back to the system generator).
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return true }
        guard RAND_bytes(base.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)) == 1 else {
            OpenSSLErrors.clear()
            return false
        }
        return true
    }
}
