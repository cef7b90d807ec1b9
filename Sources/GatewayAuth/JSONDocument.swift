import CJansson

/// Parsing JOSE headers and JWT claims with jansson.
///
/// Duplicate member names are refused (`JSON_REJECT_DUPLICATES`): RFC 7515 §4 and RFC 7519 §4
/// require names to be unique and let a parser either reject duplicates or keep the last one;
/// rejecting means no two parsers in a chain can disagree about which `alg` or `sub` counts.
/// Nesting deeper than `maxDepth` is refused before jansson sees the text, so a hostile token
/// cannot make the parser recurse deeply.
enum JSONDocument {
    /// The deepest nesting of arrays and objects accepted in a header or payload.
    static let maxDepth = 32

    /// Whether the JSON text nests arrays/objects deeper than `maxDepth` (strings skipped, so
    /// brackets inside string values do not count).
    static func exceedsDepth(_ bytes: UnsafeRawBufferPointer, limit: Int = maxDepth) -> Bool {
        // Fast path: text with no more opening brackets than the limit cannot nest deeper. A
        // branch-free count ('[' is 0x5B, '{' is 0x7B: the only bytes that OR 0x20 to 0x7B).
        var openers = 0
        for byte in bytes { openers &+= (byte | 0x20) == 0x7B ? 1 : 0 }
        if openers <= limit { return false }
        var depth = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > limit { return true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return false
    }

    /// Why JSON text was refused, in words that never quote the text.
    enum Failure: Error {
        /// Nested deeper than `maxDepth`.
        case tooDeep
        /// The same member name twice in one object.
        case duplicateMember
        /// A 0x00 byte anywhere in the text (jansson skips one after a number or literal).
        case nulByte
        /// Bytes that are not UTF-8 (RFC 8259 §8.1; RFC 3629 §4: overlong forms, encoded
        /// surrogates, truncated sequences, code points above U+10FFFF).
        case invalidUTF8
        /// Anything else jansson refused (syntax, integer overflow).
        case invalid

        /// "has duplicate member names", for a detail string.
        var phrase: String {
            switch self {
            case .tooDeep: return "nests deeper than \(JSONDocument.maxDepth) levels"
            case .duplicateMember: return "has duplicate member names"
            case .nulByte: return "contains a NUL byte"
            case .invalidUTF8: return "is not valid UTF-8 (RFC 8259 §8.1)"
            case .invalid: return "is not valid JSON"
            }
        }
    }

    /// Parses exactly one JSON value; fails when the text holds a NUL byte or is not UTF-8, is
    /// not one JSON value, has duplicate member names, or nests too deeply. The caller owns the
    /// result (`wsgate_json_decref`).
    ///
    /// The byte check comes first because jansson's own checks have gaps (it skips a NUL right
    /// after a number or literal), and whatever jansson accepts here may be handed on to other
    /// parsers (`forward_payload_header`) that would read the same bytes differently.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<UnsafeMutablePointer<json_t>, Failure> {
        if let refused = textFailure(bytes) { return .failure(refused) }
        if exceedsDepth(bytes) { return .failure(.tooDeep) }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .failure(.invalid) }
        var error = json_error_t()
        let flags = Int(JSON_REJECT_DUPLICATES) | Int(JSON_DECODE_ANY)
        guard let json = json_loadb(base.assumingMemoryBound(to: CChar.self), bytes.count, flags, &error) else {
            return .failure(wsgate_json_error_code(&error) == json_error_duplicate_key ? .duplicateMember : .invalid)
        }
        return .success(json)
    }

    /// The bytes of a jansson string (which may hold any UTF-8, its length is explicit).
    static func string(_ json: UnsafeMutablePointer<json_t>) -> String? {
        guard wsgate_json_type(json) == JSON_STRING, let chars = json_string_value(json) else { return nil }
        let length = json_string_length(json)
        return chars.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// Converts a jansson value to `JSONValue`.
    static func value(_ json: UnsafeMutablePointer<json_t>) -> JSONValue {
        switch wsgate_json_type(json) {
        case JSON_OBJECT: return .object(object(json))
        case JSON_ARRAY:
            let count = json_array_size(json)
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            for index in 0..<count {
                if let item = json_array_get(json, index) { items.append(value(item)) }
            }
            return .array(items)
        case JSON_STRING: return .string(string(json) ?? "")
        case JSON_INTEGER: return .integer(Int64(json_integer_value(json)))
        case JSON_REAL: return .number(json_real_value(json))
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        default: return .null
        }
    }

    /// Converts a jansson object's members.
    static func object(_ json: UnsafeMutablePointer<json_t>) -> [String: JSONValue] {
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(json_object_size(json))
        var iter = json_object_iter(json)
        while let current = iter {
            if let key = json_object_iter_key(current), let item = json_object_iter_value(current) {
                members[String(cString: key)] = value(item)
            }
            iter = json_object_iter_next(json, current)
        }
        return members
    }
}
