#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GatewayHandshake
import GatewayText

/// A parser for one flat JSON object (RFC 8259) holding a rejection record.
struct RejectionLineParser {
    /// The line, without its newline.
    let bytes: UnsafeBufferPointer<UInt8>
    /// The next byte to read.
    var index = 0

    /// A parser at the start of `bytes`.
    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// A key: the index of its `RejectionField` (spelled there once for writer and reader), which
    /// is also its bit in `seen`; nil for a key the record does not know, which is skipped.
    private typealias Key = Int?

    /// The fields in case order (`allCases` is computed anew on each use).
    private static let fields = RejectionField.allCases

    private mutating func value(for key: RejectionField) throws(RejectionLineError) {
        switch key {
        case .time: time = try optionalString(key)
        case .status: status = try optionalInteger(key)
        case .reason: reason = try optionalString(key)
        case .route: route = try optionalString(key)
        case .path: path = try optionalString(key)
        case .client: client = try optionalString(key)
        case .detail: detail = try optionalString(key)
        case .kid: kid = try optionalString(key)
        case .iss: iss = try optionalString(key)
        case .sub: sub = try optionalString(key)
        case .token_fp: tokenFP = try optionalString(key)
        case .request_id: requestID = try optionalString(key)
        }
    }

    private var time: String?
    private var status: Int?
    private var reason: String?
    private var route: String?, path: String?, client: String?, detail: String?
    private var kid: String?, iss: String?, sub: String?, tokenFP: String?, requestID: String?
    private var seen: UInt16 = 0

    /// Parses the whole line as one record; fails on anything else, `.truncated` when the line
    /// ends before the object does.
    mutating func record() throws(RejectionLineError) -> RejectionRecord {
        skipSpace()
        try expect(UInt8(ascii: "{"), "does not start with {")
        skipSpace()
        if try peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                let key = try self.key()
                skipSpace()
                try expect(UInt8(ascii: ":"), "no : after a key")
                skipSpace()
                // A repeated key keeps its first value, as Foundation's JSONDecoder does.
                if let position = key, seen & (1 << UInt16(position)) == 0 {
                    seen |= 1 << UInt16(position)
                    try value(for: Self.fields[position])
                } else {
                    try skipValue(depth: 0)
                }
                skipSpace()
                let next = try peek()
                index += 1
                if next == UInt8(ascii: "}") { break }
                guard next == UInt8(ascii: ",") else { throw .corrupt("expected , or } at byte \(index)") }
            }
        }
        skipSpace()
        guard index == bytes.count else { throw .corrupt("text after the object at byte \(index + 1)") }
        guard let time else { throw .corrupt("no \"\(RejectionField.time.rawValue)\"") }
        guard let status else { throw .corrupt("no \"\(RejectionField.status.rawValue)\"") }
        guard let reason else { throw .corrupt("no \"\(RejectionField.reason.rawValue)\"") }
        return RejectionRecord(
            time: time, status: status, reason: reason, route: route, path: path, client: client,
            detail: detail, kid: kid, iss: iss, sub: sub, token_fp: tokenFP, request_id: requestID)
    }

    // MARK: Tokens

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func peek() throws(RejectionLineError) -> UInt8 {
        guard index < bytes.count else { throw .truncated }
        return bytes[index]
    }

    private mutating func expect(_ byte: UInt8, _ why: @autoclosure () -> String) throws(RejectionLineError) {
        guard try peek() == byte else { throw .corrupt(why()) }
        index += 1
    }

    /// Reads a key, matching the known ones without building a string.
    private mutating func key() throws(RejectionLineError) -> Key {
        guard try peek() == UInt8(ascii: "\"") else { throw .corrupt("expected a key at byte \(index + 1)") }
        let start = index + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        guard end < bytes.count else { throw .truncated }
        if bytes[end] == UInt8(ascii: "\\") {
            // An escaped key is legal JSON; compare its decoded text.
            let text = try string()
            return text.utf8.withContiguousStorageIfAvailable { Self.key($0) } ?? nil
        }
        index = end + 1
        return Self.key(UnsafeBufferPointer(rebasing: bytes[start..<end]))
    }

    /// The field named by `name`: its one candidate found by length, first and last byte
    /// (`slot`), then confirmed with one `memcmp`, so a key costs one comparison, not twelve.
    private static func key(_ name: UnsafeBufferPointer<UInt8>) -> Key {
        guard let base = name.baseAddress, name.count > 0 else { return nil }
        let index = Int(slots[slot(count: name.count, first: base[0], last: base[name.count - 1])])
        guard index >= 0, nameLengths[index] == name.count else { return nil }
        let equal = packedNames.withUnsafeBufferPointer { memcmp($0.baseAddress! + nameStarts[index], base, name.count) == 0 }
        return equal ? index : nil
    }

    /// A key's slot in `slots`.
    private static func slot(count: Int, first: UInt8, last: UInt8) -> Int {
        (count &+ Int(first) &+ Int(last) &* 6) & 255
    }

    /// Every field's name back to back (from `RejectionField`, the one spelling), where each
    /// starts, and how long it is.
    private static let packedNames: [UInt8] = RejectionField.utf8Names.flatMap { $0 }
    private static let nameLengths: [Int] = RejectionField.utf8Names.map(\.count)
    private static let nameStarts: [Int] = nameLengths.reduce(into: [0]) { $0.append($0.last! + $1) }

    /// Field index by slot, -1 for none. Built once; two fields in one slot would be a
    /// programming error caught the first time any line is parsed (every test parses lines).
    private static let slots: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, name) in RejectionField.utf8Names.enumerated() {
            let at = slot(count: name.count, first: name[0], last: name[name.count - 1])
            precondition(table[at] == -1, "rejection field names \(table[at]) and \(index) share a slot")
            table[at] = Int8(index)
        }
        return table
    }()

    private mutating func optionalString(_ field: RejectionField) throws(RejectionLineError) -> String? {
        if try literal("null") { return nil }
        guard try peek() == UInt8(ascii: "\"") else { throw .corrupt("\"\(field.rawValue)\" is not a string") }
        return try string()
    }

    private mutating func optionalInteger(_ field: RejectionField) throws(RejectionLineError) -> Int? {
        if try literal("null") { return nil }
        var value = 0
        var negative = false
        if try peek() == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        let start = index
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            guard index - start < 18 else { throw .corrupt("\"\(field.rawValue)\" is too large") }
            value = value * 10 + Int(bytes[index] - 0x30)
            index += 1
        }
        guard index > start else {
            if index == bytes.count { throw .truncated }
            throw .corrupt("\"\(field.rawValue)\" is not an integer")
        }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            throw .corrupt("\"\(field.rawValue)\" is not an integer")
        }
        return negative ? -value : value
    }

    /// Consumes `word` when it is next; true when it was.
    private mutating func literal(_ word: StaticString) throws(RejectionLineError) -> Bool {
        guard try peek() == word.utf8Start.pointee else { return false }
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else {
            // `nul` at the end of the line: a cut-off literal.
            if memcmp(word.utf8Start, bytes.baseAddress! + index, bytes.count - index) == 0 { throw .truncated }
            return false
        }
        guard memcmp(word.utf8Start, bytes.baseAddress! + index, count) == 0 else { return false }
        index += count
        return true
    }

    /// A JSON string starting at the opening quote; validated UTF-8, escapes decoded.
    private mutating func string() throws(RejectionLineError) -> String {
        index += 1  // the quote
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return try Self.text(raw)
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            if byte < 0x20 { throw .corrupt("a control character inside a string") }
            index += 1
        }
        throw .truncated
    }

    /// Validated UTF-8 as a string. Log text is nearly always ASCII, which needs no validation and
    /// takes the cheapest way into a `String`; anything else is validated, never repaired.
    private static func text(_ raw: UnsafeBufferPointer<UInt8>) throws(RejectionLineError) -> String {
        var high: UInt8 = 0
        for byte in raw { high |= byte }
        if high < 0x80 { return String(decoding: raw, as: UTF8.self) }
        guard let text = String(validating: raw, as: UTF8.self) else { throw .corrupt("a string is not UTF-8") }
        return text
    }

    /// The slow path, for a string with escapes: decodes into a byte buffer.
    private mutating func escapedString(from start: Int) throws(RejectionLineError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(index - start + 16)
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return try out.withUnsafeBufferPointer { raw throws(RejectionLineError) in try Self.text(raw) }
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { throw .truncated }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        // RFC 8259 §7: a character outside the BMP is a surrogate pair.
                        guard index + 2 <= bytes.count else { throw .truncated }
                        guard bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw .corrupt("a lone surrogate in a \\u escape")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw .corrupt("a lone surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw .corrupt("a lone surrogate in a \\u escape")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw .corrupt("an invalid \\u escape") }
                    out.append(contentsOf: UTF8.encode(unicode)!)
                default:
                    throw .corrupt("an invalid escape \\\(Character(Unicode.Scalar(escape)))")
                }
            default:
                if byte < 0x20 { throw .corrupt("a control character inside a string") }
                out.append(byte)
            }
        }
        throw .truncated
    }

    private mutating func hex4() throws(RejectionLineError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw .truncated }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw .corrupt("an invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// Skips the value of an unknown key (any JSON value; nesting bounded).
    private mutating func skipValue(depth: Int) throws(RejectionLineError) {
        guard depth < 64 else { throw .corrupt("nested too deeply") }
        let first = try peek()
        switch first {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = first == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            index += 1
            skipSpace()
            if try peek() == close {
                index += 1
                return
            }
            while true {
                skipSpace()
                if first == UInt8(ascii: "{") {
                    guard try peek() == UInt8(ascii: "\"") else { throw .corrupt("expected a key at byte \(index + 1)") }
                    _ = try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"), "no : after a key")
                    skipSpace()
                }
                try skipValue(depth: depth + 1)
                skipSpace()
                let next = try peek()
                index += 1
                if next == close { return }
                guard next == UInt8(ascii: ",") else { throw .corrupt("expected , or \(Character(Unicode.Scalar(close))) at byte \(index)") }
            }
        case UInt8(ascii: "t"):
            guard try literal("true") else { throw .corrupt("an invalid value at byte \(index + 1)") }
        case UInt8(ascii: "f"):
            guard try literal("false") else { throw .corrupt("an invalid value at byte \(index + 1)") }
        case UInt8(ascii: "n"):
            guard try literal("null") else { throw .corrupt("an invalid value at byte \(index + 1)") }
        case UInt8(ascii: "-"), 0x30...0x39:
            let start = index
            while index < bytes.count {
                switch bytes[index] {
                case 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
                    index += 1
                default:
                    guard Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)) != nil else {
                        throw .corrupt("an invalid number at byte \(start + 1)")
                    }
                    return
                }
            }
            throw .truncated
        default:
            throw .corrupt("an invalid value at byte \(index + 1)")
        }
    }
}
