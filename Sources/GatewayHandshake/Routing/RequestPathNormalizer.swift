import GatewayAuth
/// Puts a request path into the one form that route matching and the backend both see, or
/// refuses it, so that no backend can resolve a path the route table did not (PRODUCT.md's
/// "path well formed" step, before route lookup).
///
/// The policy follows Envoy's `normalize_path: true`, `merge_slashes: true` and
/// `path_with_escaped_slashes_action: REJECT_REQUEST`:
/// - `%XX` escapes of unreserved characters are decoded (RFC 3986 §6.2.2.2), so `%2e%2e` is a
///   dot segment; other escapes are kept, with upper-case hex digits (§6.2.2.1);
/// - an encoded `/` or `\` (`%2F`, `%5C`), `%00`, a raw `\`, a space or control byte, a `#`,
///   or a broken escape is refused: backends disagree on what they mean;
/// - repeated slashes are merged (many backends and nginx's `merge_slashes` do; `/a//../b`
///   must not mean `/a/b` here and `/b` there);
/// - dot segments are removed (RFC 3986 §5.2.4); a `..` that would climb above the root is refused.
public enum RequestPathNormalizer {
    /// The outcome for one path.
    public enum Outcome: Equatable, Sendable {
        /// The path to match routes against and to forward (the input itself when already normal).
        case normalized(Substring)
        /// Not acceptable; the reason is for the rejection log.
        case refused(String)
    }

    /// Normalises `path` (starting with `/`, no query string).
    public static func normalize(_ path: Substring) -> Outcome {
        if isAlreadyNormal(path) { return .normalized(path) }
        // Decode unreserved escapes and refuse the ambiguous bytes.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(path.utf8.count)
        var iterator = path.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "\\"): return .refused("backslash in path")
            case UInt8(ascii: "#"): return .refused("fragment in request target")
            case 0...0x20, 0x7f: return .refused("space or control byte in path")
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return .refused("broken percent-encoding in path")
                }
                let decoded = high << 4 | low
                switch decoded {
                case UInt8(ascii: "/"): return .refused("encoded slash in path")
                case UInt8(ascii: "\\"): return .refused("encoded backslash in path")
                case 0: return .refused("encoded NUL in path")
                default:
                    if isUnreserved(decoded) {
                        bytes.append(decoded)
                    } else {
                        bytes += [UInt8(ascii: "%"), upperHex(high), upperHex(low)]
                    }
                }
            default:
                bytes.append(byte)
            }
        }
        // Merge slashes and remove dot segments (RFC 3986 §5.2.4, on whole segments).
        var kept: [ArraySlice<UInt8>] = []
        var trailingSlash = false
        let segments = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        for (offset, segment) in segments.enumerated() {
            let isLast = offset == segments.count - 1
            if segment.isEmpty || segment.elementsEqual([UInt8(ascii: ".")]) {
                if isLast { trailingSlash = true }
                continue
            }
            if segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard !kept.isEmpty else { return .refused("path climbs above the root") }
                kept.removeLast()
                if isLast { trailingSlash = true }
                continue
            }
            kept.append(segment)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for segment in kept {
            out.append(UInt8(ascii: "/"))
            out += segment
        }
        if out.isEmpty || trailingSlash { out.append(UInt8(ascii: "/")) }
        return .normalized(Substring(String(decoding: out, as: UTF8.self)))
    }

    /// True when nothing would change: no escape, no dot segment, no repeated slash, no byte to refuse.
    private static func isAlreadyNormal(_ path: Substring) -> Bool {
        var previous: UInt8 = 0
        var segmentIsDots = false
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "%"), UInt8(ascii: "\\"), UInt8(ascii: "#"), 0...0x20, 0x7f:
                return false
            case UInt8(ascii: "/"):
                if previous == UInt8(ascii: "/") || segmentIsDots { return false }
                segmentIsDots = false
            case UInt8(ascii: "."):
                if previous == UInt8(ascii: "/") { segmentIsDots = true }
            default:
                segmentIsDots = false
            }
            previous = byte
        }
        return !segmentIsDots
    }

    /// RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? { TokenCarriers.hexValue(byte) }

    private static func upperHex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }
}
