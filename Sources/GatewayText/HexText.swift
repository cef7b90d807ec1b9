/// Lowercase hexadecimal, the one spelling of bytes as text in wsgate: request and revocation
/// ids, token digests.
public enum HexText {
    /// `bytes` as lowercase hex, two digits per byte, most significant nibble first.
    public static func lowercase(_ bytes: some Collection<UInt8>) -> String {
        let count = bytes.count * 2
        return String(unsafeUninitializedCapacity: count) { out in
            var index = 0
            for byte in bytes {
                out[index] = digit(byte >> 4)
                out[index + 1] = digit(byte & 0xF)
                index += 2
            }
            return count
        }
    }

    /// The 64-bit words as lowercase hex, big-endian (16 digits each).
    public static func lowercase(words: UInt64...) -> String {
        String(unsafeUninitializedCapacity: words.count * 16) { out in
            for (index, word) in words.enumerated() {
                for nibble in 0..<16 {
                    out[index * 16 + nibble] = digit(UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * nibble)) & 0xF)
                }
            }
            return words.count * 16
        }
    }

    @inline(__always)
    private static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
