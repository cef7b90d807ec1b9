/// Conversion between JOSE's fixed-width ECDSA signature R‖S (RFC 7518 §3.4) and the DER
/// `ECDSA-Sig-Value` (SEC 1 §C.5, RFC 3279 §2.2.3) that OpenSSL consumes, done by hand into a
/// caller's buffer so verification does not allocate BIGNUMs.
enum ECDSASignature {
    /// Writes DER for `raw` (R‖S, two equal halves of at most 66 bytes) into `out` (at least
    /// `raw.count + 16` bytes) and returns the DER length.
    static func der(fromRaw raw: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        let half = raw.count / 2
        var r = 0, s = 0
        var rLength = integerLength(raw, from: 0, count: half, start: &r)
        var sLength = integerLength(raw, from: half, count: half, start: &s)
        let rPad = rLength > 0 && raw[r] & 0x80 != 0 ? 1 : 0
        let sPad = sLength > 0 && raw[s] & 0x80 != 0 ? 1 : 0
        // INTEGER 0 is encoded as one zero byte.
        let rZero = rLength == 0, sZero = sLength == 0
        if rZero { rLength = 1 }
        if sZero { sLength = 1 }
        let body = 2 + rPad + rLength + 2 + sPad + sLength
        var o = 0
        out[o] = 0x30; o += 1
        if body >= 0x80 { out[o] = 0x81; o += 1 }
        out[o] = UInt8(body); o += 1
        for (start, length, pad, zero) in [(r, rLength, rPad, rZero), (s, sLength, sPad, sZero)] {
            out[o] = 0x02; out[o + 1] = UInt8(length + pad); o += 2
            if pad == 1 { out[o] = 0; o += 1 }
            if zero {
                out[o] = 0; o += 1
            } else {
                for i in 0..<length { out[o + i] = raw[start + i] }
                o += length
            }
        }
        return o
    }

    /// The length of a big-endian integer without leading zero bytes; `start` gets its offset.
    private static func integerLength(_ raw: UnsafeRawBufferPointer, from: Int, count: Int, start: inout Int) -> Int {
        var i = from
        while i < from + count && raw[i] == 0 { i += 1 }
        start = i
        return from + count - i
    }
}
