import GatewayText

/// A duration as the config and the CLI spell it, in `DurationText`'s one grammar: numbers with
/// units, `ms` to `w` (`500ms`, `30s`, `1.5m`, `1h30m`, `1d`); a bare number is seconds.
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

    /// Parses the spelling; nil when it does not follow the grammar, or overflows.
    public init?(_ spelling: String) {
        guard let nanoseconds = DurationText.nanoseconds(spelling) else { return nil }
        self.nanoseconds = nanoseconds
    }

    /// The length in seconds.
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    /// The shortest exact spelling (`1d`, `90s`, `250ms`).
    public var description: String { DurationText.string(nanoseconds: nanoseconds) }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> SubSequence {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }
}
