/// A duration as the config and the CLI spell it: an integer or decimal number followed by
/// `ms`, `s`, `m` or `h` (`500ms`, `30s`, `1.5m`, `1h`); a bare number is seconds.
///
/// A leading `-` is accepted so that the CLI can mint already-expired tokens (`--ttl=-1h`); the
/// config refuses negative durations itself.
public struct ConfigDuration: Sendable, Hashable, CustomStringConvertible {
    /// The length in nanoseconds.
    public var nanoseconds: Int64

    /// Creates a duration from nanoseconds.
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// Parses the spelling; nil when it is not a number with an optional known unit, or overflows.
    public init?(_ spelling: String) {
        var text = Substring(spelling.trimmingWhitespace())
        var negative = false
        if text.first == "-" {
            negative = true
            text = text.dropFirst()
        } else if text.first == "+" {
            text = text.dropFirst()
        }
        let number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = text.dropFirst(number.count).trimmingWhitespace()
        let nanosecondsPerUnit: Double
        switch unit {
        case "ms": nanosecondsPerUnit = 1e6
        case "", "s": nanosecondsPerUnit = 1e9
        case "m": nanosecondsPerUnit = 60e9
        case "h": nanosecondsPerUnit = 3600e9
        default: return nil
        }
        guard !number.isEmpty, number.first != ".", number.last != ".",
              number.filter({ $0 == "." }).count <= 1,
              let value = Double(number) else { return nil }
        let nanoseconds = (value * nanosecondsPerUnit).rounded()
        guard nanoseconds < 9.2e18 else { return nil }
        self.nanoseconds = negative ? -Int64(nanoseconds) : Int64(nanoseconds)
    }

    /// The length in seconds.
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    /// The shortest exact spelling (`1h`, `90s`, `250ms`).
    public var description: String {
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        for (unit, size) in [("h", UInt64(3600_000_000_000)), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000)]
        where magnitude % size == 0 {
            return "\(sign)\(magnitude / size)\(unit)"
        }
        return "\(sign)\(Double(magnitude) / 1e9)s"
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> SubSequence {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }
}
