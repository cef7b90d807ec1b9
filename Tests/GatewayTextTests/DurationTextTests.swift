import GatewayText
import Testing

/// The one duration grammar (config and CLI) at its edges.
@Suite struct DurationTextTests {
    @Test("accepted spellings in nanoseconds", arguments: [
        ("0", 0), ("0s", 0), ("1ms", 1_000_000), ("500ms", 500_000_000), ("1.5s", 1_500_000_000),
        ("90", 90_000_000_000), ("2.5", 2_500_000_000), ("30s", 30_000_000_000), ("1m", 60_000_000_000),
        ("1.5m", 90_000_000_000), ("1h", 3_600_000_000_000), ("1d", 86_400_000_000_000),
        ("2days", 172_800_000_000_000), ("1w", 604_800_000_000_000), ("1h30m", 5_400_000_000_000),
        ("1d2h3m4s5ms", 93_784_005_000_000), ("10M", 600_000_000_000), ("15 min", 900_000_000_000),
        ("  30s\t", 30_000_000_000), ("-30s", -30_000_000_000), ("+1h", 3_600_000_000_000),
        ("0.001s", 1_000_000), ("1 h 30 m", 5_400_000_000_000),
    ] as [(String, Int64)])
    func reads(text: String, nanoseconds: Int64) {
        #expect(DurationText.nanoseconds(text) == nanoseconds)
    }

    @Test("refused: unknown units, malformed numbers, a bare number after a unit, overflow", arguments: [
        "", " ", "-", "s", "m", "10 parsecs", "1y", "1mo", "1.5.5s", ".5s", "1.s", "1h30", "30s5",
        "1e3s", "--1s", "1s-", "½s", "١s", "1h,30m", "300000d", "9223372037s",
    ])
    func refuses(text: String) {
        #expect(DurationText.nanoseconds(text) == nil)
    }

    @Test("the shortest exact spelling in one unit reads back", arguments: [
        (0, "0s"), (1_000_000, "1ms"), (1_500_000_000, "1500ms"), (90_000_000_000, "90s"),
        (3_600_000_000_000, "1h"), (86_400_000_000_000, "1d"), (-30_000_000_000, "-30s"), (1_500, "1.5e-06s"),
    ] as [(Int64, String)])
    func writes(nanoseconds: Int64, text: String) {
        #expect(DurationText.string(nanoseconds: nanoseconds) == text)
        if nanoseconds % 1_000_000 == 0 { #expect(DurationText.nanoseconds(text) == nanoseconds) }
    }
}
