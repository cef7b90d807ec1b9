/// The one duration grammar, shared by the config (`idle_timeout: 1d`) and the CLI
/// (`--since 1h30m`, `--ttl 15m`).
///
/// One or more `number unit` parts (`500ms`, `1.5s`, `1h30m`, `2d`); a bare number alone is
/// seconds. Units, case-insensitive: `ms`; `s`, `sec`, `secs`; `m`, `min`, `mins`; `h`, `hr`,
/// `hrs`; `d`, `day`, `days`; `w`, `week`, `weeks`. A number is digits with at most one inner `.`
/// (`1.5`, not `.5` or `1.`). One leading `-` or `+` applies to the whole (`--nbf=-30s`); callers
/// that take no negative durations refuse them themselves. Spaces and tabs around the text and
/// between a number and its unit are ignored.
public enum DurationText {
    /// Nanoseconds in `text`; nil when it does not follow the grammar or overflows `Int64`.
    public static func nanoseconds(_ text: String) -> Int64? {
        var rest = Substring(text)
        skipSpace(&rest)
        while let last = rest.last, last == " " || last == "\t" { rest = rest.dropLast() }
        var negative = false
        if rest.first == "-" || rest.first == "+" {
            negative = rest.first == "-"
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        var parts = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number.first != ".", number.last != ".",
                  number.filter({ $0 == "." }).count <= 1, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            skipSpace(&rest)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            parts += 1
            if unit.isEmpty {
                // A bare number is seconds, and only on its own: `1h30` is a typo, not 1h30s.
                guard parts == 1, rest.isEmpty else { return nil }
                total = value * 1e9
                break
            }
            guard let size = nanosecondsPer(unit: unit.lowercased()) else { return nil }
            total += value * size
            skipSpace(&rest)
        }
        let rounded = total.rounded()
        guard rounded < 9.2e18 else { return nil }
        return negative ? -Int64(rounded) : Int64(rounded)
    }

    /// Seconds in `text`, as `nanoseconds(_:)` reads it.
    public static func seconds(_ text: String) -> Double? {
        nanoseconds(text).map { Double($0) / 1e9 }
    }

    /// The shortest exact spelling in one unit (`1d`, `90s`, `250ms`); fractions of a millisecond
    /// as decimal seconds.
    public static func string(nanoseconds: Int64) -> String {
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        guard magnitude != 0 else { return "0s" }
        for (unit, size) in [("d", UInt64(86_400_000_000_000)), ("h", 3600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000)]
        where magnitude % size == 0 {
            return "\(sign)\(magnitude / size)\(unit)"
        }
        return "\(sign)\(Double(magnitude) / 1e9)s"
    }

    private static func nanosecondsPer(unit: String) -> Double? {
        switch unit {
        case "ms": 1e6
        case "s", "sec", "secs": 1e9
        case "m", "min", "mins": 60e9
        case "h", "hr", "hrs": 3600e9
        case "d", "day", "days": 86_400e9
        case "w", "week", "weeks": 604_800e9
        default: nil
        }
    }

    private static func skipSpace(_ text: inout Substring) {
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
    }
}
