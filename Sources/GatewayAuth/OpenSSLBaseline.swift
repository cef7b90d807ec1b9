import COpenSSL

/// OpenSSL's own speed for what the verifier does, measured in-process, so `wsgate-bench verify`
/// can print the verifier's figures next to the ceiling of the library underneath it.
public enum OpenSSLBaseline {
    /// Runs `iterations` HMAC computations over `input` in the tightest EVP loop (one
    /// EVP_MAC_CTX re-initialised with its own key, update, final) and returns the elapsed
    /// nanoseconds, measured by `clock`.
    public static func hmac(_ algorithm: JWTAlgorithm, secret: [UInt8], over input: [UInt8], iterations: Int,
                            clock: () -> UInt64) -> UInt64? {
        guard algorithm.family == .hmac,
              let ctx = secret.withUnsafeBufferPointer({ wsgate_hmac_ctx_new(algorithm.digestName!, $0.baseAddress, $0.count) })
        else { return nil }
        defer { EVP_MAC_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 64)
        var length = 0
        var ok = true
        let start = clock()
        input.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { out in
                for _ in 0..<iterations {
                    // A NULL key re-initialises with the key already set (EVP_MAC_init(3)).
                    ok = ok && EVP_MAC_init(ctx, nil, 0, nil) == 1
                        && EVP_MAC_update(ctx, input.baseAddress, input.count) == 1
                        && EVP_MAC_final(ctx, out.baseAddress, &length, out.count) == 1
                }
            }
        }
        let end = clock()
        if !ok { OpenSSLErrors.clear() }
        return ok ? end - start : nil
    }
}
