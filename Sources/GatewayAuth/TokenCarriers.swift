/// Pure helpers that find a bearer token in the places a WebSocket client can put one.
///
/// Browsers cannot set headers on a WebSocket, so besides `Authorization` (RFC 6750 §2.1) a token
/// may come in the query (RFC 6750 §2.3), a cookie, or the `Sec-WebSocket-Protocol` list.
public enum TokenCarriers {
    /// The subprotocol entry that announces a token in the next entry.
    public static let subprotocolMarker = "bearer"

    /// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive,
    /// RFC 7235 §2.1), or nil when the header is another scheme or empty.
    public static func bearer(authorization value: String) -> Substring? {
        let trimmed = Substring(value).trimmingSpaces()
        guard trimmed.utf8.count > 7, trimmed.prefix(6).lowercased() == "bearer" else { return nil }
        let rest = trimmed.dropFirst(6)
        guard let first = rest.first, first == " " || first == "\t" else { return nil }
        let token = rest.trimmingSpaces()
        return token.isEmpty ? nil : token
    }

    // MARK: - Query and cookie carriers
    //
    // Whatever the gateway does not strip, a backend parses, and backends disagree. A pair is
    // therefore a token carrier when ANY common parser could read its name as a carrier name, and
    // every such pair is both offered to the conflict check and stripped:
    // - query pairs are split at `&` (WHATWG URL) and at `;` (HTML 4.01 §B.2.2; Python before
    //   3.9.2, Go before 1.17, Rails and Java servlet containers still do);
    // - names are percent-decoded with `+` as space (PHP decodes even cookie names), trimmed of
    //   ASCII whitespace (Go's `textproto.TrimString`, Node `cookie`'s space/tab skipping,
    //   `SimpleCookie`'s `\s*` around `=`), read as PHP reads them (`name[]` is `name`, `.` and
    //   spaces are `_`), and compared ASCII case-insensitively (ASP.NET's name collections ignore
    //   case);
    // - cookie pairs are split at `;` (RFC 6265 §5.4) and at `,` (RFC 2965 §3.3.4), without regard
    //   to quotes (Go and Node split inside quotes); within a pair, every `=` counts, with the word
    //   before it as a name, because Python's `SimpleCookie` also separates cookies by whitespace
    //   (`a=b wsgate_token=x` is two cookies to it).

    /// A cookie or query name as the most lenient common parser reads it: percent-decoded (`+` as
    /// space, broken escapes kept literally, as PHP's `urldecode` does), trimmed of ASCII
    /// whitespace, without a trailing `[…]` (array syntax), `.` and inner spaces as `_` (PHP),
    /// ASCII-lowercased. Two names that normalise alike are the same carrier.
    public static func lenientName<S: Collection>(_ raw: S) -> String where S.Element == UInt8 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index != raw.endIndex {
            let byte = raw[index]
            raw.formIndex(after: &index)
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index != raw.endIndex, let high = hexValue(raw[index]) {
                let next = raw.index(after: index)
                if next != raw.endIndex, let low = hexValue(raw[next]) {
                    bytes.append(high << 4 | low)
                    index = raw.index(after: next)
                } else {
                    bytes.append(byte)
                }
            } else {
                bytes.append(byte)
            }
        }
        var slice = bytes[...]
        while let first = slice.first, isWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isWhitespace(last) { slice = slice.dropLast() }
        // PHP (and Rails, qs) read `name[]=` and `name[key]=` as entries of `name`; PHP also turns
        // `.` and spaces in a name into `_` (`access.token` is `$_GET['access_token']`).
        if slice.last == UInt8(ascii: "]"), let open = slice.firstIndex(of: UInt8(ascii: "[")) {
            slice = slice[..<open]
        }
        return String(decoding: slice.map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte | 0x20
            case UInt8(ascii: "."), UInt8(ascii: " "): UInt8(ascii: "_")
            default: byte
            }
        }, as: UTF8.self)
    }

    /// Every value of the query parameter `name` in `query` (the part after `?`), percent-decoded,
    /// for every pair a lenient backend could read as `name` (see `lenientName`). Returns nil for
    /// a value whose percent-encoding is broken.
    public static func queryValues(named name: String, in query: Substring) -> [String?] {
        let wanted = lenientName(name.utf8)
        var values: [String?] = []
        for pair in segments(of: query.utf8, separators: isQuerySeparator) where !pair.text.isEmpty {
            let equals = pair.text.firstIndex(of: UInt8(ascii: "="))
            guard lenientName(pair.text[..<(equals ?? pair.text.endIndex)]) == wanted else { continue }
            guard let equals else { values.append(""); continue }
            values.append(percentDecode(Substring(pair.text[pair.text.index(after: equals)...])))
        }
        return values
    }

    /// `query` without any pair a lenient backend could read as one of `names`; the separators
    /// of the pairs kept are kept. Nil when nothing is left.
    public static func query(_ query: Substring, removing names: [String]) -> Substring? {
        let wanted = Set(names.map { lenientName($0.utf8) })
        let pairs = segments(of: query.utf8, separators: isQuerySeparator)
        let kept = pairs.filter { pair in
            let equals = pair.text.firstIndex(of: UInt8(ascii: "=")) ?? pair.text.endIndex
            return !wanted.contains(lenientName(pair.text[..<equals]))
        }
        if kept.count == pairs.count { return query.isEmpty ? nil : query }
        let joined = join(kept)
        return joined.isEmpty ? nil : Substring(joined)
    }

    /// Every value of cookie `name` in one `Cookie` header value that a lenient parser could
    /// read (Go `readCookies`, Node `cookie.parse`, Python `SimpleCookie`, PHP): surrounding
    /// whitespace and double quotes removed, percent-decoded when that decodes (Node does).
    public static func cookieValues(named name: String, in header: String) -> [String] {
        let wanted: Set<String> = [lenientName(name.utf8)]
        var values: [String] = []
        for pair in segments(of: header[...].utf8, separators: isCookieSeparator) {
            values += cookieCarrierValues(in: pair.text, names: wanted)
        }
        return values
    }

    /// One `Cookie` header value without any pair that holds a cookie a lenient parser could read
    /// as one of `names`; the other pairs and their separators are kept. Nil when nothing is left.
    public static func cookieHeader(_ header: String, removing names: [String]) -> String? {
        let wanted = Set(names.map { lenientName($0.utf8) })
        let pairs = segments(of: header[...].utf8, separators: isCookieSeparator)
        let kept = pairs.filter { cookieCarrierValues(in: $0.text, names: wanted).isEmpty }
        if kept.count == pairs.count { return header }
        let joined = join(kept)
        return joined.utf8.allSatisfy(isWhitespace) ? nil : joined
    }

    /// The values of the carriers in one cookie pair: each `=` whose preceding word (skipping
    /// whitespace) is a wanted name. The first `=`'s value runs to the end of the pair (Go, Node);
    /// a later one's to the next whitespace (`SimpleCookie`).
    private static func cookieCarrierValues(in pair: Substring.UTF8View, names: Set<String>) -> [String] {
        let bytes = Array(pair)
        var values: [String] = []
        var isFirst = true
        for equals in bytes.indices where bytes[equals] == UInt8(ascii: "=") {
            defer { isFirst = false }
            var end = equals
            while end > 0, isWhitespace(bytes[end - 1]) { end -= 1 }
            var start = end
            while start > 0, !isWhitespace(bytes[start - 1]), bytes[start - 1] != UInt8(ascii: "=") { start -= 1 }
            guard start < end, names.contains(lenientName(bytes[start..<end])) else { continue }
            var valueStart = equals + 1
            while valueStart < bytes.count, isWhitespace(bytes[valueStart]) { valueStart += 1 }
            var valueEnd = valueStart
            if isFirst {
                valueEnd = bytes.count
                while valueEnd > valueStart, isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
            } else {
                while valueEnd < bytes.count, !isWhitespace(bytes[valueEnd]) { valueEnd += 1 }
            }
            var value = bytes[valueStart..<valueEnd]
            if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                value = value.dropFirst().dropLast()
            }
            let raw = String(decoding: value, as: UTF8.self)
            values.append(raw.utf8.contains(UInt8(ascii: "%")) ? (percentDecode(raw[...], plusAsSpace: false) ?? raw) : raw)
        }
        return values
    }

    /// The pieces of `text` between separator bytes, each with the separator before it.
    private static func segments(of text: Substring.UTF8View, separators: (UInt8) -> Bool) -> [(separator: UInt8?, text: Substring.UTF8View)] {
        var out: [(separator: UInt8?, text: Substring.UTF8View)] = []
        var start = text.startIndex
        var separator: UInt8?
        var index = text.startIndex
        while index != text.endIndex {
            if separators(text[index]) {
                out.append((separator, text[start..<index]))
                separator = text[index]
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        out.append((separator, text[start..<text.endIndex]))
        return out
    }

    /// Kept pieces rejoined with their own separators; the first loses its separator and leading
    /// whitespace.
    private static func join(_ pieces: [(separator: UInt8?, text: Substring.UTF8View)]) -> String {
        var bytes: [UInt8] = []
        for piece in pieces {
            if bytes.isEmpty {
                bytes += piece.text.drop(while: isWhitespace)
            } else {
                if let separator = piece.separator { bytes.append(separator) }
                bytes += piece.text
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isQuerySeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "&") || byte == UInt8(ascii: ";")
    }

    private static func isCookieSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ";") || byte == UInt8(ascii: ",")
    }

    /// ASCII whitespace as Python's `\s` (ASCII mode) and Go's `textproto.TrimString` see it.
    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// Splits a `Sec-WebSocket-Protocol` list into the carried token (the entry after `bearer`)
    /// and the remaining protocols to forward.
    public static func subprotocolCarrier(_ protocols: [String]) -> (tokens: [String], remaining: [String], markerSeen: Bool) {
        var tokens: [String] = []
        var remaining: [String] = []
        var markerSeen = false
        var index = 0
        while index < protocols.count {
            let entry = protocols[index]
            if entry.lowercased() == subprotocolMarker {
                markerSeen = true
                if index + 1 < protocols.count {
                    tokens.append(protocols[index + 1])
                    index += 2
                    continue
                }
            } else {
                remaining.append(entry)
            }
            index += 1
        }
        return (tokens, remaining, markerSeen)
    }

    /// Splits comma-separated header values into trimmed, non-empty entries.
    public static func listEntries<S: Sequence>(_ values: S) -> [String] where S.Element == String {
        var out: [String] = []
        for value in values {
            for part in value.split(separator: ",") {
                let trimmed = part.trimmingSpaces()
                if !trimmed.isEmpty { out.append(String(trimmed)) }
            }
        }
        return out
    }

    /// Decodes `%XX` escapes and, unless `plusAsSpace` is false, `+` as space (HTML form
    /// encoding, which query strings use). Nil for a broken escape or bytes that are not UTF-8.
    public static func percentDecode(_ text: Substring, plusAsSpace: Bool = true) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) || (plusAsSpace && text.utf8.contains(UInt8(ascii: "+"))) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+") where plusAsSpace:
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The value of one hex digit (either case), or nil (percent-decoding, RFC 3986 §2.1).
    public static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension Substring {
    /// The substring without leading and trailing spaces and tabs.
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
