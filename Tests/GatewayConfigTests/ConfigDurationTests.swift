import GatewayConfig
import Testing

@Suite("Durations")
struct ConfigDurationTests {
    @Test("spellings with units, bare seconds, decimals and signs", arguments: [
        ("500ms", Int64(500_000_000)), ("30s", 30_000_000_000), ("30", 30_000_000_000), ("5m", 300_000_000_000),
        ("1h", 3_600_000_000_000), ("1.5s", 1_500_000_000), ("0", 0), ("-1h", -3_600_000_000_000), (" 2 s ", 2_000_000_000),
        // The grammar `wsgate rejections --since` always had (DurationText, one for both).
        ("1d", 86_400_000_000_000), ("5sec", 5_000_000_000), ("1h30m", 5_400_000_000_000), ("1ms", 1_000_000),
    ])
    func parses(_ spelling: String, _ nanoseconds: Int64) {
        #expect(ConfigDuration(spelling)?.nanoseconds == nanoseconds)
    }

    @Test("nonsense is refused", arguments: ["", "s", "5 minutes", "1y", "1.s", ".5s", "1..5s", "5parsecs", "abc", "1e3s", "99999999999h", "1h30"])
    func refuses(_ spelling: String) {
        #expect(ConfigDuration(spelling) == nil)
    }

    @Test("the description is the shortest exact spelling")
    func description() {
        #expect(ConfigDuration("3600s")?.description == "1h")
        #expect(ConfigDuration("24h")?.description == "1d")
        #expect(ConfigDuration("90s")?.description == "90s")
        #expect(ConfigDuration("250ms")?.description == "250ms")
        #expect(ConfigDuration("-2m")?.description == "-2m")
    }
}

@Suite("Sizes")
struct ByteSizeTests {
    @Test("bytes and binary units", arguments: [
        ("8192", 8192), ("0", 0), ("100B", 100), ("16KiB", 16384), ("1MiB", 1 << 20), ("2GiB", 2 << 30), ("1 MiB", 1 << 20),
    ])
    func parses(_ spelling: String, _ bytes: Int) {
        #expect(ByteSize(spelling)?.bytes == bytes)
    }

    @Test("decimal units, fractions and nonsense are refused", arguments: ["1MB", "1KB", "1.5MiB", "", "MiB", "-1", "1TiB", "99999999999999999GiB"])
    func refuses(_ spelling: String) {
        #expect(ByteSize(spelling) == nil)
    }

    @Test("the description uses the largest exact unit")
    func description() {
        #expect(ByteSize(bytes: 1 << 20).description == "1MiB")
        #expect(ByteSize(bytes: 16384).description == "16KiB")
        #expect(ByteSize(bytes: 1000).description == "1000")
    }
}
