/// JSON string literals (RFC 8259 §7), the one escaper for every JSON the gateway writes itself:
/// the rejection log, its own log lines and JSON values.
///
/// Quote, backslash and every control character (U+0000–U+001F) are escaped, so a value always
/// stays on one line; U+2028 and U+2029 are escaped too, which JSON allows but does not require,
/// because JavaScript before ES2019 ends a line at them and the dashboard embeds JSON in a page.
/// Everything else is copied as UTF-8. A Swift `String` is always valid Unicode, so invalid UTF-8
/// cannot reach here: bytes decoded with `String(decoding:as:)` arrive as U+FFFD.
public enum JSONText {
    /// `text` as a JSON string literal, quotes included.
    public static func quoted(_ text: String) -> String {
        // Most values need no escaping at all: copy them whole.
        if !needsEscaping(text) { return "\"" + text + "\"" }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 8)
        appendQuoted(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `text` as a JSON string literal, quotes included.
    public static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0..<0x20: appendUnicodeEscape(UInt16(byte), to: &out)
            case 0xE2:
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
                guard let second = utf8.next() else {
                    out.append(byte)
                    break
                }
                guard second == 0x80, let third = utf8.next() else {
                    out.append(byte)
                    out.append(second)
                    break
                }
                if third == 0xA8 || third == 0xA9 {
                    appendUnicodeEscape(third == 0xA8 ? 0x2028 : 0x2029, to: &out)
                } else {
                    out.append(contentsOf: [byte, second, third])
                }
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `text` as a JSON string literal to a `String`.
    public static func appendQuoted(_ text: String, to out: inout String) {
        out += quoted(text)
    }

    /// Whether `text` holds anything `appendQuoted` would escape.
    static func needsEscaping(_ text: String) -> Bool {
        !text.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C && $0 != 0xE2 }
    }

    private static func appendUnicodeEscape(_ value: UInt16, to out: inout [UInt8]) {
        out.append(contentsOf: #"\u"#.utf8)
        for shift in stride(from: 12, through: 0, by: -4) {
            out.append(hexDigit(UInt8((value >> UInt16(shift)) & 0xF)))
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
