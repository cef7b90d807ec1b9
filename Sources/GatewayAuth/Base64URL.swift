/// Strict, unpadded base64url (RFC 4648 §5) as JWS requires (RFC 7515 §2, Appendix C): no `=`,
/// no whitespace, no characters outside the URL-safe alphabet, and zero trailing bits (the
/// canonical encoding, RFC 4648 §3.5), so every byte string has exactly one accepted spelling.
public enum Base64URL {
    /// 0...63 for alphabet characters, 0xFF for everything else.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The decoded length of `count` encoded characters, or nil when no unpadded encoding has that
    /// length (a remainder of 1 is impossible).
    @inlinable
    public static func decodedLength(_ count: Int) -> Int? {
        let remainder = count & 3
        if remainder == 1 { return nil }
        return (count >> 2) * 3 + (remainder == 0 ? 0 : remainder - 1)
    }

    /// Encodes bytes without padding.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        let outputCount = (input.count / 3) * 4 + [0, 2, 3][input.count % 3]
        return String(unsafeUninitializedCapacity: outputCount) { output in
            alphabet.withUnsafeBufferPointer { abc in
                var o = 0
                var i = 0
                while i + 3 <= input.count {
                    let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                    output[o] = abc[Int(v >> 18 & 63)]; output[o + 1] = abc[Int(v >> 12 & 63)]
                    output[o + 2] = abc[Int(v >> 6 & 63)]; output[o + 3] = abc[Int(v & 63)]
                    i += 3; o += 4
                }
                switch input.count - i {
                case 1:
                    let v = UInt32(input[i]) << 16
                    output[o] = abc[Int(v >> 18 & 63)]; output[o + 1] = abc[Int(v >> 12 & 63)]
                    o += 2
                case 2:
                    let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
                    output[o] = abc[Int(v >> 18 & 63)]; output[o + 1] = abc[Int(v >> 12 & 63)]
                    output[o + 2] = abc[Int(v >> 6 & 63)]
                    o += 3
                default: break
                }
                return o
            }
        }
    }

    /// Decodes strictly; nil for anything but canonical unpadded base64url.
    public static func decode<Bytes: Collection>(_ text: Bytes) -> [UInt8]? where Bytes.Element == UInt8 {
        let input = Array(text)
        return input.withUnsafeBufferPointer { decode(input: UnsafeRawBufferPointer($0)) }
    }

    /// Decodes a string strictly; nil for anything but canonical unpadded base64url.
    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }

    /// Decodes into a new array; nil when invalid.
    static func decode(input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let count = decodedLength(input.count) else { return nil }
        var ok = false
        let result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            ok = decode(input, into: UnsafeMutableRawBufferPointer(buffer)) == count
            initialized = ok ? count : 0
        }
        return ok ? result : nil
    }

    /// Decodes `input` into `output` (which must hold `decodedLength(input.count)` bytes) and
    /// returns the number of bytes written, or -1 when the input is not canonical base64url.
    /// No allocation: the verifier decodes signatures into stack buffers with it.
    static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        guard let count = decodedLength(input.count), output.count >= count else { return -1 }
        return decodeTable.withUnsafeBufferPointer { table -> Int in
            var i = 0
            var o = 0
            var bad: UInt8 = 0
            let whole = input.count & ~3
            while i < whole {
                let a = table[Int(input[i])], b = table[Int(input[i + 1])]
                let c = table[Int(input[i + 2])], d = table[Int(input[i + 3])]
                bad |= a | b | c | d
                let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                output[o] = UInt8(truncatingIfNeeded: v >> 16)
                output[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                output[o + 2] = UInt8(truncatingIfNeeded: v)
                i += 4; o += 3
            }
            switch input.count - i {
            case 2:
                let a = table[Int(input[i])], b = table[Int(input[i + 1])]
                bad |= a | b
                if bad & 0x80 == 0 && b & 0x0F != 0 { return -1 }  // non-zero trailing bits
                output[o] = a << 2 | b >> 4
                o += 1
            case 3:
                let a = table[Int(input[i])], b = table[Int(input[i + 1])], c = table[Int(input[i + 2])]
                bad |= a | b | c
                if bad & 0x80 == 0 && c & 0x03 != 0 { return -1 }
                output[o] = a << 2 | b >> 4
                output[o + 1] = (b & 0x0F) << 4 | c >> 2
                o += 2
            default: break
            }
            return bad & 0x80 == 0 ? o : -1
        }
    }
}
