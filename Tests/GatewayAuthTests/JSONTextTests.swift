import Testing

@testable import GatewayAuth

/// The byte check in front of jansson: NUL and anything that is not UTF-8 (RFC 3629 §4) refused,
/// every well-formed sequence accepted, wherever it sits relative to the 8-byte fast path.
@Suite struct JSONTextTests {
    static func failure(_ bytes: [UInt8]) -> JSONDocument.Failure? {
        bytes.withUnsafeBytes { JSONDocument.textFailure($0) }
    }

    @Test("edges of RFC 3629 §4: the first and last code point of each length pass, the forms just outside fail")
    func wellFormedEdges() {
        let good: [[UInt8]] = [
            [0x01], [0x7F], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF],
            [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
        ]
        let bad: [[UInt8]] = [
            [0xC0, 0xAF], [0xC1, 0xBF],  // overlong 2-byte
            [0xE0, 0x9F, 0xBF],  // overlong 3-byte
            [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],  // surrogates U+D800, U+DFFF
            [0xF0, 0x8F, 0xBF, 0xBF],  // overlong 4-byte
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF],  // above U+10FFFF
            [0x80], [0xBF],  // a continuation byte as lead
            [0xE2, 0x82], [0xF0, 0x9F, 0x98],  // truncated at the end
            [0xE2, 0x82, 0x41], [0xC3, 0x28],  // a non-continuation inside a sequence
        ]
        for bytes in good {
            #expect(Self.failure(Array("{\"s\":\"".utf8) + bytes + Array("\"}".utf8)) == nil, "\(bytes)")
        }
        for bytes in bad {
            #expect(Self.failure(Array("{\"s\":\"".utf8) + bytes + Array("\"}".utf8)) == .invalidUTF8, "\(bytes)")
            #expect(Self.failure(bytes) == .invalidUTF8, "\(bytes) alone")
        }
    }

    @Test("a NUL or a non-ASCII byte at every offset of 0–24 bytes of ASCII is found (the 8-byte steps miss none)")
    func everyOffsetOfTheFastPath() {
        for length in 1...24 {
            for position in 0..<length {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                bytes[position] = 0
                #expect(Self.failure(bytes) == .nulByte, "NUL at \(position) of \(length)")
                bytes[position] = 0xFF
                #expect(Self.failure(bytes) == .invalidUTF8, "0xFF at \(position) of \(length)")
                bytes[position] = 0x7F
                #expect(Self.failure(bytes) == nil, "DEL at \(position) of \(length)")
            }
        }
    }

    @Test("20 000 random byte strings: refused exactly when Swift's own UTF-8 validation refuses them or they hold a NUL")
    func agreesWithTheStandardLibrary() {
        var state: UInt64 = 0x4A53_4F4E  // fixed seed: a failure replays
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        // Mostly ASCII, with bytes from every interesting UTF-8 range mixed in.
        let pool: [UInt8] = Array(0x20...0x7E) + [0x00, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        let special = pool.filter { $0 >= 0x80 || $0 == 0 }
        for _ in 0..<20_000 {
            let length = Int(next() % 40)
            let bytes: [UInt8] = (0..<length).map { _ in
                let roll = next()
                return roll % 4 == 0 ? special[Int((roll >> 8) % UInt64(special.count))] : pool[Int((roll >> 8) % UInt64(pool.count))]
            }
            let expected: JSONDocument.Failure?
            let firstNUL = bytes.firstIndex(of: 0)
            let valid = String(validating: bytes, as: UTF8.self) != nil
            if valid {
                expected = firstNUL == nil ? nil : .nulByte
            } else if let firstNUL, String(validating: bytes[..<firstNUL], as: UTF8.self) != nil {
                // The NUL comes before the first broken sequence (a NUL is never inside one).
                expected = .nulByte
            } else {
                expected = .invalidUTF8
            }
            #expect(Self.failure(bytes) == expected, "\(bytes)")
        }
    }
}
