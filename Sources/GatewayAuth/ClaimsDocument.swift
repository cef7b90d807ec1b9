import CJansson

/// A parsed claims set, kept in jansson's form so verification reads `exp`, `iss`, `aud` in place
/// and `VerifiedToken` converts to `JSONValue` only what a caller asks for (the handshake usually
/// needs a few claims, not the whole set).
///
/// `@unchecked Sendable` is safe: `root` is a `let` set in `init`, the document is never modified
/// after parsing, and every later use is a read (json_object_get(n), json_array_get,
/// json_*_value, json_object_iter*), which jansson implements without writing to the value. The
/// only write, the final decref, happens in `deinit`, when no other reference remains.
final class ClaimsDocument: @unchecked Sendable {
    /// The root object, owned.
    let root: UnsafeMutablePointer<json_t>

    /// Takes ownership of a parsed object.
    init(owning root: UnsafeMutablePointer<json_t>) { self.root = root }

    /// Parses claims JSON that is known to be an object (a signer's own output); an empty object
    /// when it is not.
    convenience init(parsing bytes: [UInt8]) {
        let parsed = bytes.withUnsafeBytes { JSONDocument.parse($0) }
        if case .success(let json) = parsed {
            if wsgate_json_is_object(json) != 0 {
                self.init(owning: json)
                return
            }
            wsgate_json_decref(json)
        }
        self.init(owning: json_object())
    }

    deinit { wsgate_json_decref(root) }

    /// The member `name` of the root object (nil when absent).
    @inline(__always)
    func member(_ name: StaticString) -> UnsafeMutablePointer<json_t>? {
        name.withUTF8Buffer { key in
            key.withMemoryRebound(to: CChar.self) { json_object_getn(root, $0.baseAddress, $0.count) }
        }
    }

    /// The value at a dotted path; a top-level member whose name contains dots is found first.
    func lookup(_ path: String) -> UnsafeMutablePointer<json_t>? {
        var path = path
        return path.withUTF8 { utf8 -> UnsafeMutablePointer<json_t>? in
            guard let base = utf8.baseAddress else { return json_object_getn(root, "", 0) }
            let chars = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            if let direct = json_object_getn(root, chars, utf8.count) { return direct }
            var current = root
            var start = 0
            while start <= utf8.count {
                var end = start
                while end < utf8.count && utf8[end] != UInt8(ascii: ".") { end += 1 }
                guard wsgate_json_is_object(current) != 0, let next = json_object_getn(current, chars + start, end - start) else { return nil }
                current = next
                start = end + 1
            }
            return current
        }
    }
}

extension JSONDocument {
    /// The number of an integer or real (a NumericDate, RFC 7519 §2), nil for other types.
    @inline(__always)
    static func number(_ json: UnsafeMutablePointer<json_t>) -> Double? {
        switch wsgate_json_type(json) {
        case JSON_INTEGER: return Double(json_integer_value(json))
        case JSON_REAL: return json_real_value(json)
        default: return nil
        }
    }

    /// Whether a jansson string equals `text`, compared bytewise without building a String.
    @inline(__always)
    static func string(_ json: UnsafeMutablePointer<json_t>, equals text: String) -> Bool {
        guard let chars = json_string_value(json) else { return false }
        let length = json_string_length(json)
        var text = text
        return text.withUTF8 { utf8 in
            guard utf8.count == length else { return false }
            for index in 0..<length where UInt8(bitPattern: chars[index]) != utf8[index] { return false }
            return true
        }
    }
}
