/// Conversion from JOSE's fixed-width ECDSA signature R‖S (RFC 7518 §3.4) to the DER
/// `ECDSA-Sig-Value` (SEC 1 §C.5, RFC 3279 §2.2.3) that OpenSSL consumes, done by hand into a
/// caller's buffer so verification allocates no BIGNUMs.
enum ECDSASignature {
    /// Writes DER for `raw` (R‖S, two equal halves of at most 66 bytes) into `out` (at least
    /// `raw.count + 16` bytes) and returns the DER length.
    static func der(fromRaw raw: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        let half = raw.count / 2
        let r = UnsafeRawBufferPointer(rebasing: raw[0..<half])
        let s = UnsafeRawBufferPointer(rebasing: raw[half...])
        let body = encodedLength(r) + encodedLength(s)
        var o = 0
        out[o] = 0x30; o += 1  // SEQUENCE
        if body >= 0x80 { out[o] = 0x81; o += 1 }
        out[o] = UInt8(body); o += 1
        o = writeInteger(r, into: out, at: o)
        o = writeInteger(s, into: out, at: o)
        return o
    }

    /// Tag, length and content of one INTEGER: minimal big-endian bytes, with a leading zero
    /// when the top bit is set (DER integers are signed), and one zero byte for zero.
    private static func encodedLength(_ integer: UnsafeRawBufferPointer) -> Int {
        let (start, pad) = shape(integer)
        let content = max(integer.count - start, 1) + pad
        return 2 + content
    }

    private static func shape(_ integer: UnsafeRawBufferPointer) -> (start: Int, pad: Int) {
        var start = 0
        while start < integer.count && integer[start] == 0 { start += 1 }
        let pad = start < integer.count && integer[start] & 0x80 != 0 ? 1 : 0
        return (start, pad)
    }

    private static func writeInteger(_ integer: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var o = offset
        let (start, pad) = shape(integer)
        let significant = integer.count - start
        out[o] = 0x02  // INTEGER
        out[o + 1] = UInt8(max(significant, 1) + pad)
        o += 2
        if pad == 1 || significant == 0 { out[o] = 0; o += 1 }
        for index in start..<integer.count {
            out[o] = integer[index]
            o += 1
        }
        return o
    }
}
