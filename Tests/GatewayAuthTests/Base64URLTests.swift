import GatewayAuth
import Testing

/// Strict unpadded base64url (RFC 4648 §5, RFC 7515 §2).
struct Base64URLTests {
    /// Known encodings decode and encode both ways.
    @Test(arguments: [
        ("", []), ("AA", [0]), ("AAE", [0, 1]), ("AAEC", [0, 1, 2]), ("_-8", [0xFF, 0xEF]), ("-_-_", [0xFB, 0xFF, 0xBF]),
    ] as [(String, [UInt8])])
    func decodes(_ text: String, _ bytes: [UInt8]) {
        #expect(Base64URL.decode(text) == bytes)
        #expect(Base64URL.encode(bytes) == text)
    }

    /// Padding, whitespace, other alphabets, impossible lengths and non-zero unused bits are refused.
    @Test(arguments: ["A", "AA==", "AA=", "A+", "A/", "AA\n", " AA", "AA A", "AB", "AAF", "é", "AAAAA"])
    func refuses(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    /// Every length round-trips.
    @Test func roundTripsEveryLength() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }
}
