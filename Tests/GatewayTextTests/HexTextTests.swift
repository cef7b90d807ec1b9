import GatewayText
import Testing

/// Lowercase hex, exactly: two digits per byte, most significant nibble first; words big-endian.
@Suite struct HexTextTests {
    @Test(arguments: [
        ([] as [UInt8], ""),
        ([0x00], "00"),
        ([0x0F, 0xF0], "0ff0"),
        ([0x00, 0x01, 0x7F, 0x80, 0xAB, 0xFF], "00017f80abff"),
        (Array(0...15) as [UInt8], "000102030405060708090a0b0c0d0e0f"),
    ])
    func bytes(_ bytes: [UInt8], _ expected: String) {
        #expect(HexText.lowercase(bytes) == expected)
        #expect(HexText.lowercase(bytes[...]) == expected)
    }

    @Test func words() {
        #expect(HexText.lowercase(words: 0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210) == "0123456789abcdeffedcba9876543210")
        #expect(HexText.lowercase(words: 0) == "0000000000000000")
        #expect(HexText.lowercase(words: .max, 1) == "ffffffffffffffff0000000000000001")
        #expect(HexText.lowercase(words: 0x00FF_00FF_00FF_00FF) == HexText.lowercase([0, 0xFF, 0, 0xFF, 0, 0xFF, 0, 0xFF]))
    }
}
