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

    /// Every value of the query parameter `name` in `query` (the part after `?`), percent-decoded.
    /// Returns nil for a value whose percent-encoding is broken.
    public static func queryValues(named name: String, in query: Substring) -> [String?] {
        var values: [String?] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard percentDecode(parts[0]) == name else { continue }
            values.append(parts.count == 2 ? percentDecode(parts[1]) : "")
        }
        return values
    }

    /// `query` without any `name=` parameter; nil when nothing is left.
    public static func query(_ query: Substring, removing name: String) -> Substring? {
        let kept = query.split(separator: "&", omittingEmptySubsequences: true).filter { pair in
            let key = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            return percentDecode(key) != name
        }
        return kept.isEmpty ? nil : Substring(kept.joined(separator: "&"))
    }

    /// Every value of cookie `name` in one `Cookie` header value (RFC 6265 §5.4).
    public static func cookieValues(named name: String, in header: String) -> [String] {
        var values: [String] = []
        for pair in header.split(separator: ";") {
            let trimmed = pair.drop { $0 == " " }
            let parts = trimmed.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            var value = parts[1].reversed().drop { $0 == " " }.reversed()[...]
            if value.count >= 2, value.first == "\"", value.last == "\"" {
                value = value.dropFirst().dropLast()
            }
            values.append(String(value))
        }
        return values
    }

    /// One `Cookie` header value without cookie `name`; nil when nothing is left.
    public static func cookieHeader(_ header: String, removing name: String) -> String? {
        let kept = header.split(separator: ";").map { $0.drop { $0 == " " } }.filter { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return !(parts.count == 2 && parts[0] == name)
        }
        return kept.isEmpty ? nil : kept.joined(separator: "; ")
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

    /// Decodes `%XX` escapes and `+` as space (HTML form encoding, which query strings use).
    public static func percentDecode(_ text: Substring) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) || text.utf8.contains(UInt8(ascii: "+")) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
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

    private static func hexValue(_ byte: UInt8) -> UInt8? {
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
