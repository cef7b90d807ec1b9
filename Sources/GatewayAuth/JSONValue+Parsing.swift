import CJansson

/// Why a JSON text was refused by `JSONValue(parsing:)`, in words that never quote the text.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    /// "is not valid JSON", "has duplicate member names", …
    public let description: String
}

extension JSONValue {
    /// Parses one JSON value with the same rules as token headers and payloads: duplicate member
    /// names refused, nesting bounded, and no NUL byte anywhere (jansson would skip one after a
    /// number or literal, where other parsers refuse the text).
    public init(parsing bytes: [UInt8]) throws(JSONParseError) {
        if bytes.contains(0) { throw JSONParseError(description: "holds a NUL byte") }
        let parsed = bytes.withUnsafeBytes { JSONDocument.parse($0) }
        switch parsed {
        case .failure(let failure):
            throw JSONParseError(description: failure.phrase)
        case .success(let json):
            defer { wsgate_json_decref(json) }
            self = JSONDocument.value(json)
        }
    }
}
