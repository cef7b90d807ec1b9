extension JSONDocument {
    /// Why `bytes` cannot be JSON text before any parsing: the first NUL byte or the first byte
    /// that breaks UTF-8 (RFC 8259 §8.1 requires UTF-8; RFC 3629 §4 gives the well-formed
    /// sequences), or nil when neither occurs. One pass; ASCII without NUL goes 8 bytes at a
    /// time, which is what JOSE headers and claims almost always are.
    static func textFailure(_ bytes: UnsafeRawBufferPointer) -> Failure? {
        let count = bytes.count
        var index = 0
        while index < count {
            if count - index >= 8 {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let highBits: UInt64 = 0x8080_8080_8080_8080
                // No byte has its top bit set, and no byte is zero (the classic "has a zero
                // byte" test, exact once every byte is below 0x80).
                if word & highBits == 0, (word &- 0x0101_0101_0101_0101) & ~word & highBits == 0 {
                    index += 8
                    continue
                }
            }
            let lead = bytes[index]
            if lead == 0 { return .nulByte }
            if lead < 0x80 {
                index += 1
                continue
            }
            // The allowed range of the second byte and how many continuation bytes follow
            // (RFC 3629 §4): E0 and F0 exclude overlong forms, ED excludes the surrogates
            // U+D800–DFFF, F4 stops at U+10FFFF; C0, C1 and F5–FF never appear.
            let second: ClosedRange<UInt8>
            let length: Int
            switch lead {
            case 0xC2...0xDF: second = 0x80...0xBF; length = 2
            case 0xE0: second = 0xA0...0xBF; length = 3
            case 0xE1...0xEC, 0xEE...0xEF: second = 0x80...0xBF; length = 3
            case 0xED: second = 0x80...0x9F; length = 3
            case 0xF0: second = 0x90...0xBF; length = 4
            case 0xF1...0xF3: second = 0x80...0xBF; length = 4
            case 0xF4: second = 0x80...0x8F; length = 4
            default: return .invalidUTF8
            }
            guard count - index >= length, second.contains(bytes[index + 1]) else { return .invalidUTF8 }
            for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 {
                return .invalidUTF8
            }
            index += length
        }
        return nil
    }
}
