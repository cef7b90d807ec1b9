import Foundation
import GatewayText
import Testing

/// JSON string literals (RFC 8259 §7): exact escapes at every edge, and what JSONSerialization reads
/// back is the text that went in.
@Suite struct JSONTextTests {
    @Test("exact escapes", arguments: [
        ("plain", #""plain""#),
        ("", #""""#),
        ("quote \" backslash \\ slash /", #""quote \" backslash \\ slash /""#),
        ("\n\r\t\u{08}\u{0C}", #""\n\r\t\b\f""#),
        ("nul \u{00} unit \u{1F} esc \u{1B}", #""nul \u0000 unit \u001f esc \u001b""#),
        ("del \u{7F} c1 \u{85}", "\"del \u{7F} c1 \u{85}\""),
        ("line \u{2028} para \u{2029}", #""line \u2028 para \u2029""#),
        ("near \u{2027}\u{202A}\u{20AC}", "\"near \u{2027}\u{202A}\u{20AC}\""),
        ("café 東京 🎉", "\"café 東京 🎉\""),
        (String(decoding: [0x61, 0xFF, 0xE2, 0x80], as: UTF8.self), "\"a\u{FFFD}\u{FFFD}\""),
    ] as [(String, String)])
    func escapes(text: String, literal: String) {
        #expect(JSONText.quoted(text) == literal)
        var bytes: [UInt8] = []
        JSONText.appendQuoted(text, to: &bytes)
        #expect(bytes == Array(literal.utf8))
    }

    @Test("every scalar below U+0100 and the separators read back through JSONSerialization")
    func readsBack() throws {
        var text = (0..<0x100).map { String(Unicode.Scalar(UInt8($0))) }.joined()
        // (Not U+FEFF: Foundation's JSONSerialization on Linux drops it while reading.)
        text += "\u{2028}\u{2029}𝄞"
        let literal = JSONText.quoted(text)
        #expect(!literal.utf8.contains { $0 < 0x20 })
        let decoded = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
        #expect(decoded == [text])
    }
}
