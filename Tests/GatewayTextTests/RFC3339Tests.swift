import GatewayText
import Testing

/// RFC 3339 (§5.6) written and read: offsets, fractions, the calendar's edges.
@Suite struct RFC3339Tests {
    /// 2026-11-25T00:00:00Z in milliseconds.
    static let base: Int64 = 1_795_564_800_000

    @Test("accepted spellings read to the exact millisecond", arguments: [
        ("1970-01-01T00:00:00Z", 0),
        ("2026-11-25T00:00:00.000Z", base),
        ("2026-11-25", base),
        ("2026-11-25T15:30", base + 55_800_000),
        ("2026-11-25T15:30:01.123Z", base + 55_801_123),
        ("2026-11-25t15:30:01.123z", base + 55_801_123),
        ("2026-11-25 15:30:01.123456Z", base + 55_801_123),
        ("2026-11-25T15:30:01.1239Z", base + 55_801_123),
        ("2026-11-25T15:30:01.5Z", base + 55_801_500),
        ("2026-11-25T15:30:01,5Z", base + 55_801_500),
        ("2026-11-25T16:30:01.123+01:00", base + 55_801_123),
        ("2026-11-25T10:00:01.123-0530", base + 55_801_123),
        ("2026-11-26T05:00:01.123+13:30", base + 55_801_123),
        ("2026-11-25T15:30:01.123-00:00", base + 55_801_123),
        ("2024-02-29T12:00:00Z", 1_709_208_000_000),
        ("2000-02-29", 951_782_400_000),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2026-11-25T23:59:60Z", base + 86_400_000),
    ] as [(String, Int64)])
    func reads(text: String, millis: Int64) {
        #expect(RFC3339.epochMilliseconds(text) == millis)
    }

    @Test("refused: not a time, impossible fields, days a month does not have", arguments: [
        "", "yesterday", "2026-13-01", "2026-00-10", "2026-11-00", "2026-11-31", "2026-02-29", "1900-02-29",
        "2026-04-31", "2026-11-25T24:00Z", "2026-11-25T15:60Z", "2026-11-25T15:30:61Z", "2026-11-25T15:30:01.Z",
        "2026-11-25Tx", "2026-11-25T15:30:01Zjunk", "2026-11-25T15:30:01+24:00", "2026-11-25T15:30:01+01:60",
        "2026-11-25T15:30:01+1", "26-11-25", "2026-1-25", "2026-11-25T", " 2026-11-25",
    ])
    func refuses(text: String) {
        #expect(RFC3339.epochMilliseconds(text) == nil)
    }

    @Test("written in UTC with milliseconds, before and after the epoch and across leap days", arguments: [
        (0, "1970-01-01T00:00:00.000Z"),
        (1017, "1970-01-01T00:00:01.017Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-86_400_000, "1969-12-31T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (1_795_628_411_999, "2026-11-25T17:40:11.999Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ] as [(Int64, String)])
    func writes(millis: Int64, text: String) {
        #expect(RFC3339.string(epochMilliseconds: millis) == text)
        #expect(RFC3339.epochMilliseconds(text) == millis)
    }

    @Test("every day from 1900 to 2100 writes and reads back (the calendar arithmetic both ways)")
    func everyDay() {
        for day in Int64(-25_567)..<Int64(47_482) {
            let millis = day * 86_400_000 + 43_200_123
            #expect(RFC3339.epochMilliseconds(RFC3339.string(epochMilliseconds: millis)) == millis)
        }
    }
}
