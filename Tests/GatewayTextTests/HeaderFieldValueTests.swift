import GatewayText
import Testing

/// RFC 9110 §5.5 field values: every byte below 0x80 at its edge, and obs-text.
@Suite struct HeaderFieldValueTests {
    @Test("each ASCII byte alone: tab, space to ~ allowed; other controls and DEL refused")
    func everyASCIIByte() {
        for byte in UInt8(0)...0x7F {
            let allowed = byte == 0x09 || (0x20...0x7E).contains(byte)
            #expect(HeaderFieldValue.isSafe("a" + String(UnicodeScalar(byte)) + "b") == allowed, "byte \(byte)")
        }
    }

    @Test("values", arguments: [
        ("", true), ("Bearer abc", true), ("café 東京", true), ("a\u{85}b", true), ("x\r\nSet-Cookie: y", false),
        ("x\ny", false), ("x\u{0}", false), ("\t", true),
    ])
    func values(text: String, safe: Bool) {
        #expect(HeaderFieldValue.isSafe(text) == safe)
    }
}
