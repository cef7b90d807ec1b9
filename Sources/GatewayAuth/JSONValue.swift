import GatewayText

/// A JSON value (claims, required-claim values).
///
/// Integers keep their exact value (`.integer`) apart from reals (`.number`), as jansson parses
/// them, so a NumericDate or an id survives a round trip without becoming floating point.
public enum JSONValue: Sendable, Hashable {
    /// JSON `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number written without fraction or exponent that fits 64 bits.
    case integer(Int64)
    /// Any other number.
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object([String: JSONValue])
}

extension JSONValue {
    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The numeric value of an integer or real, for NumericDate claims (RFC 7519 §2).
    public var doubleValue: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }

    /// Whether `self` and `other` denote the same JSON value, where an integer equals a real of
    /// the same value (a config's `1` matches a claim's `1.0`).
    public func matches(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.integer(let a), .number(let b)), (.number(let b), .integer(let a)):
            return Double(a) == b
        default:
            return self == other
        }
    }

    /// Compact JSON text (RFC 8259), object keys sorted so the output is deterministic.
    public var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// Appends compact JSON text.
    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d): out += Self.format(d)
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    /// A double as JSON: non-finite values have no JSON spelling and become `null`.
    static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return "\(d)"
    }

    /// A JSON string literal with the escapes RFC 8259 §7 requires (`JSONText`, the one escaper).
    static func writeString(_ s: String, to out: inout String) {
        JSONText.appendQuoted(s, to: &out)
    }
}

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text.
    public var description: String { jsonText }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    /// `"text"` → `.string`.
    public init(stringLiteral value: String) { self = .string(value) }
    /// `42` → `.integer`.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// `true` → `.bool`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// `1.5` → `.number`.
    public init(floatLiteral value: Double) { self = .number(value) }
    /// `[…]` → `.array`.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// `[k: v]` → `.object` (a later duplicate key wins).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    /// `nil` → `.null`.
    public init(nilLiteral: ()) { self = .null }
}
