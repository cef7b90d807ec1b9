/// A size as the config spells it: an integer followed by `B`, `KiB`, `MiB` or `GiB`
/// (`8192`, `16KiB`, `1MiB`); a bare integer is bytes.
///
/// Decimal units (`KB`, `MB`) are refused rather than guessed at, since operators mean either.
public struct ByteSize: Sendable, Hashable, CustomStringConvertible {
    /// The size in bytes.
    public var bytes: Int

    /// Creates a size from bytes.
    public init(bytes: Int) {
        self.bytes = bytes
    }

    /// Parses the spelling; nil when it is not an integer with an optional binary unit, or overflows.
    public init?(_ spelling: String) {
        let text = spelling.trimmingWhitespace()
        let number = text.prefix { $0.isASCII && $0.isNumber }
        let unit = text.dropFirst(number.count).trimmingWhitespace()
        let multiplier: Int
        switch unit {
        case "", "B": multiplier = 1
        case "KiB": multiplier = 1 << 10
        case "MiB": multiplier = 1 << 20
        case "GiB": multiplier = 1 << 30
        default: return nil
        }
        guard !number.isEmpty, let value = Int(number) else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        self.bytes = bytes
    }

    /// Whether the spelling uses a decimal unit (`KB`, `MB`, `GB`), for a precise message.
    static func usesDecimalUnit(_ spelling: String) -> Bool {
        let unit = spelling.trimmingWhitespace().drop { $0.isASCII && $0.isNumber }.trimmingWhitespace().lowercased()
        return ["k", "kb", "m", "mb", "g", "gb"].contains(unit)
    }

    /// The shortest exact spelling (`1MiB`, `16KiB`, `100`).
    public var description: String {
        for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes != 0 && bytes % size == 0 {
            return "\(bytes / size)\(unit)"
        }
        return "\(bytes)"
    }
}
