import Foundation

#if canImport(Glibc)
import GatewayHandshake
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The reading side of the rejection log (`wsgate rejections`): finds the log and its rotated
// siblings, splits them into lines, turns each line back into a `RejectionRecord`, filters, and
// follows the live file across rotation. Everything here is independent of the command line so it
// can be tested with real files in a temporary directory.

/// `read(2)`, named apart from the reader's own `read` methods.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// What reading the log produces, in file order.
public enum RejectionLogEvent: Sendable, Equatable {
    /// One well-formed line.
    case record(RejectionRecord)
    /// A line (or file) that could not be read; it was skipped.
    case problem(RejectionLogProblem)
    /// Following only: every line present when following started has been delivered; what comes
    /// next was appended afterwards.
    case caughtUp
}

/// A line or a file that was skipped, with where it is, for standard error.
public struct RejectionLogProblem: Sendable, Equatable, CustomStringConvertible, Error {
    /// The file, as given (a rotated sibling's own name).
    public var file: String
    /// The 1-based line number, when the problem is one line.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// Creates a problem report.
    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `logs/rejections.jsonl:42: truncated line (ends inside the JSON object); skipped`.
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// One file of the log: the live file, a rotated sibling (`FILE.1`), or a compressed one (`FILE.2.gz`).
public struct RejectionLogFile: Sendable, Equatable, CustomStringConvertible {
    /// Its path; `-` is standard input.
    public var path: String
    /// Whether it is gzip-compressed (read through `gzip -dc`).
    public var isCompressed: Bool

    /// Creates a file reference; `.gz` names are compressed unless told otherwise.
    public init(path: String, isCompressed: Bool? = nil) {
        self.path = path
        self.isCompressed = isCompressed ?? path.hasSuffix(".gz")
    }

    /// The path.
    public var description: String { path }
}

/// Which rotated siblings of the log to read besides the live file.
public enum RejectionLogRotation: Sendable, Equatable {
    /// Only the live file.
    case none
    /// The most recently rotated file (`FILE.1` or `FILE.1.gz`) and the live file: the default,
    /// so that a rotation a minute ago does not hide the last hour.
    case latest
    /// Every rotated sibling, oldest first (`FILE.9.gz` … `FILE.2.gz`, `FILE.1`), then the live file.
    case all
}

/// Reads rejection log files and turns their lines into `RejectionRecord`s.
///
/// Lines are parsed by a small hand-written parser for the flat JSON object that
/// `RejectionRecord.jsonLine()` writes (the same type on both sides, so writer and reader cannot
/// drift). It accepts keys in any order, ignores unknown keys (whatever their value), treats
/// `null` as absent, and rejects anything that is not one JSON object, so a corrupt or truncated
/// line becomes a `RejectionLogProblem` and never stops the reading.
public struct RejectionLogReader: Sendable {
    /// Bytes read per `read(2)`.
    static let chunkSize = 1 << 20

    /// Creates a reader.
    public init() {}

    // MARK: Finding the files

    /// The files to read for the log at `path`, oldest first, ending with `path` itself.
    ///
    /// Rotated siblings are `path.N` and `path.N.gz` (logrotate's default numbering, higher is
    /// older) and `path-SUFFIX[.gz]` (logrotate's `dateext`, sorted by name). A missing live file
    /// is still listed so that reading it reports it. A `path` ending in `.gz` is one compressed
    /// file, listed alone.
    public static func files(for path: String, rotation: RejectionLogRotation = .latest) -> [RejectionLogFile] {
        // `--log old.jsonl.3.gz` names one compressed file: read just that, decompressed.
        let live = RejectionLogFile(path: path)
        guard rotation != .none, path != "-", !live.isCompressed else { return [live] }
        // Siblings are named the way `path` is (relative stays relative), for the problem reports.
        let slash = path.lastIndex(of: "/")
        let prefix = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: prefix.isEmpty ? "." : prefix)) ?? []
        var numbered: [(Int, String)] = []
        var dated: [String] = []
        for name in names where name.count > base.count && name.hasPrefix(base) {
            var rest = Substring(name.dropFirst(base.count))
            if rest.hasSuffix(".gz") { rest = rest.dropLast(3) }
            if rest.first == ".", rest.count > 1, rest.dropFirst().allSatisfy({ ("0"..."9").contains($0) }), let number = Int(rest.dropFirst()) {
                numbered.append((number, name))
            } else if rest.first == "-", rest.count > 1, rest.dropFirst().allSatisfy({ $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
                dated.append(name)
            }
        }
        // Both `FILE.1` and `FILE.1.gz` can exist for a moment while logrotate compresses; the
        // plain one is complete, the compressed one may not be yet.
        numbered.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1.count < $1.1.count }
        var seen = Set<Int>()
        numbered = numbered.filter { seen.insert($0.0).inserted }
        dated.sort()
        var rotated = dated + numbered.map(\.1)
        if rotation == .latest, let newest = rotated.last { rotated = [newest] }
        return rotated.map { RejectionLogFile(path: prefix + $0) } + [live]
    }

    // MARK: Reading

    /// Reads `files` in order and hands every event to `body`; returns how many files could be
    /// opened. Nothing here throws: unreadable files and bad lines are `.problem` events.
    @discardableResult
    public func read(_ files: [RejectionLogFile], _ body: (RejectionLogEvent) -> Void) -> Int {
        var opened = 0
        for file in files where read(file, body) { opened += 1 }
        return opened
    }

    /// Reads one file; false when it could not be opened (reported as a problem).
    @discardableResult
    public func read(_ file: RejectionLogFile, _ body: (RejectionLogEvent) -> Void) -> Bool {
        var scanner = RejectionLineScanner(file: file.path)
        if file.isCompressed {
            return readCompressed(file, scanner: &scanner, body)
        }
        let fd: Int32 = file.path == "-" ? 0 : open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            body(.problem(RejectionLogProblem(file: file.path, line: nil, message: "cannot open: \(String(cString: strerror(errno)))")))
            return false
        }
        defer { if fd != 0 { close(fd) } }
        if let failure = Self.drain(fd, into: &scanner, body) {
            body(.problem(RejectionLogProblem(file: file.path, line: nil, message: "read failed after line \(scanner.lineNumber): \(failure)")))
        }
        scanner.finish(body)
        return true
    }

    /// Reads `fd` to its end through the scanner; the error text when `read(2)` failed.
    static func drain(_ fd: Int32, into scanner: inout RejectionLineScanner, _ body: (RejectionLogEvent) -> Void) -> String? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = systemRead(fd, buffer.baseAddress, chunkSize)
            if count == 0 { return nil }
            if count < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            scanner.consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), body)
        }
    }

    /// Decompresses with `gzip -dc` (Foundation on Linux has no gzip, and a pipe keeps memory flat).
    private func readCompressed(_ file: RejectionLogFile, scanner: inout RejectionLineScanner, _ body: (RejectionLogEvent) -> Void) -> Bool {
        guard FileManager.default.isReadableFile(atPath: file.path) else {
            body(.problem(RejectionLogProblem(file: file.path, line: nil, message: "cannot open: \(String(cString: strerror(errno)))")))
            return false
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", "--", file.path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            body(.problem(RejectionLogProblem(file: file.path, line: nil, message: "cannot run gzip -dc: \(error.localizedDescription)")))
            return false
        }
        let failure = Self.drain(output.fileHandleForReading.fileDescriptor, into: &scanner, body)
        // Read gzip's complaint only after its output: it writes little, so the pipe cannot fill.
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        scanner.finish(body)
        if let failure {
            body(.problem(RejectionLogProblem(file: file.path, line: nil, message: "read failed: \(failure)")))
        }
        if process.terminationStatus != 0 {
            let said = complaint.split(separator: "\n").last.map { ": \($0)" } ?? ""
            body(.problem(RejectionLogProblem(
                file: file.path, line: nil,
                message: "gzip -dc exited \(process.terminationStatus)\(said); lines before the damage were read")))
        }
        return true
    }

    // MARK: Parsing one line

    /// Parses one line (without its newline) into a record.
    public static func record(fromLine line: String) throws(RejectionLineError) -> RejectionRecord {
        var line = line
        let result = line.withUTF8 { bytes in Result { () throws(RejectionLineError) in try record(fromLine: bytes) } }
        return try result.get()
    }

    /// Parses one line's bytes (without its newline) into a record.
    public static func record(fromLine bytes: UnsafeBufferPointer<UInt8>) throws(RejectionLineError) -> RejectionRecord {
        var parser = RejectionLineParser(bytes: bytes)
        return try parser.record()
    }
}

/// Why a line is not a rejection record.
public enum RejectionLineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The line stops inside the object: a partial write or a cut file.
    case truncated
    /// The line is not the JSON object of a rejection record.
    case corrupt(String)

    /// For the problem report.
    public var description: String {
        switch self {
        case .truncated: "truncated line (ends inside the JSON object)"
        case .corrupt(let why): "corrupt line (\(why))"
        }
    }
}

// MARK: - Lines

/// Splits a byte stream into lines (LF, optional CR before it) and parses each; keeps an unfinished
/// last line until more bytes or the end arrive.
struct RejectionLineScanner {
    /// The file name used in problem reports.
    var file: String
    /// Lines seen so far.
    var lineNumber = 0
    /// The start of a line whose end has not been read yet.
    var carry: [UInt8] = []
    /// Inside a line longer than `maxLineBytes`: its rest is skipped up to the next newline.
    var skippingLongLine = false
    /// No gateway line comes near this (request heads are bounded at 16 KiB); it keeps a file
    /// without newlines (a binary given by mistake) from being held in memory whole.
    static let maxLineBytes = 16 << 20

    /// Scans a chunk; complete lines become events.
    mutating func consume(_ chunk: UnsafeRawBufferPointer, _ body: (RejectionLogEvent) -> Void) {
        guard let base = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self), chunk.count > 0 else { return }
        var start = 0
        let end = chunk.count
        while start < end {
            guard let found = memchr(base + start, 0x0A, end - start) else {
                if skippingLongLine { return }
                carry.append(contentsOf: UnsafeBufferPointer(start: base + start, count: end - start))
                if carry.count > Self.maxLineBytes {
                    lineNumber += 1
                    body(.problem(RejectionLogProblem(file: file, line: lineNumber, message: "corrupt line (longer than \(Self.maxLineBytes >> 20) MiB); skipped")))
                    carry = []
                    skippingLongLine = true
                }
                return
            }
            let newline = UnsafeRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
            if skippingLongLine {
                skippingLongLine = false
            } else if carry.isEmpty {
                line(UnsafeBufferPointer(start: base + start, count: newline - start), body)
            } else {
                carry.append(contentsOf: UnsafeBufferPointer(start: base + start, count: newline - start))
                let whole = carry
                carry.removeAll(keepingCapacity: true)
                whole.withUnsafeBufferPointer { line($0, body) }
            }
            start = newline + 1
        }
    }

    /// The input has ended: a last line without its newline is parsed (and reported truncated when
    /// it is incomplete).
    mutating func finish(_ body: (RejectionLogEvent) -> Void) {
        skippingLongLine = false
        guard !carry.isEmpty else { return }
        let whole = carry
        carry.removeAll()
        whole.withUnsafeBufferPointer { line($0, body) }
    }

    /// Forgets a partial line (the file was truncated or replaced); reports it when there was one.
    mutating func restart(file: String, _ body: (RejectionLogEvent) -> Void) {
        if !carry.isEmpty {
            lineNumber += 1
            body(.problem(RejectionLogProblem(file: self.file, line: lineNumber, message: "\(RejectionLineError.truncated); skipped")))
        }
        carry.removeAll()
        skippingLongLine = false
        lineNumber = 0
        self.file = file
    }

    private mutating func line(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (RejectionLogEvent) -> Void) {
        lineNumber += 1
        var count = bytes.count
        if count > 0, bytes[count - 1] == 0x0D { count -= 1 }
        let text = UnsafeBufferPointer(rebasing: bytes[0..<count])
        // Blank lines (an editor's trailing newline) are not worth a warning.
        if text.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        do {
            body(.record(try RejectionLogReader.record(fromLine: text)))
        } catch {
            body(.problem(RejectionLogProblem(file: file, line: lineNumber, message: "\(error); skipped")))
        }
    }
}

// MARK: - The parser

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

    /// The keys the record knows; anything else is skipped.
    private enum Key: UInt16 {
        case time, status, reason, route, path, client, detail, kid, iss, sub, tokenFP, requestID, unknown
    }

    private mutating func value(for key: Key) throws(RejectionLineError) {
        switch key {
        case .time: time = try optionalString("time")
        case .status: status = try optionalInteger("status")
        case .reason: reason = try optionalString("reason")
        case .route: route = try optionalString("route")
        case .path: path = try optionalString("path")
        case .client: client = try optionalString("client")
        case .detail: detail = try optionalString("detail")
        case .kid: kid = try optionalString("kid")
        case .iss: iss = try optionalString("iss")
        case .sub: sub = try optionalString("sub")
        case .tokenFP: tokenFP = try optionalString("token_fp")
        case .requestID: requestID = try optionalString("request_id")
        case .unknown: break
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
                let bit: UInt16 = 1 << key.rawValue
                if key == .unknown || seen & bit != 0 {
                    try skipValue(depth: 0)
                } else {
                    seen |= bit
                    try value(for: key)
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
        guard let time else { throw .corrupt("no \"time\"") }
        guard let status else { throw .corrupt("no \"status\"") }
        guard let reason else { throw .corrupt("no \"reason\"") }
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
            return text.utf8.withContiguousStorageIfAvailable { Self.key($0) } ?? .unknown
        }
        index = end + 1
        return Self.key(UnsafeBufferPointer(rebasing: bytes[start..<end]))
    }

    private static func key(_ name: UnsafeBufferPointer<UInt8>) -> Key {
        func equals(_ literal: StaticString) -> Bool {
            literal.utf8CodeUnitCount == name.count && memcmp(literal.utf8Start, name.baseAddress!, name.count) == 0
        }
        guard name.count > 0 else { return .unknown }
        switch name.count {
        case 3: return equals("kid") ? .kid : equals("iss") ? .iss : equals("sub") ? .sub : .unknown
        case 4: return equals("time") ? .time : equals("path") ? .path : .unknown
        case 5: return equals("route") ? .route : .unknown
        case 6:
            return equals("status") ? .status : equals("reason") ? .reason : equals("client") ? .client
                : equals("detail") ? .detail : .unknown
        case 8: return equals("token_fp") ? .tokenFP : .unknown
        case 10: return equals("request_id") ? .requestID : .unknown
        default: return .unknown
        }
    }

    private mutating func optionalString(_ name: String) throws(RejectionLineError) -> String? {
        if try literal("null") { return nil }
        guard try peek() == UInt8(ascii: "\"") else { throw .corrupt("\"\(name)\" is not a string") }
        return try string()
    }

    private mutating func optionalInteger(_ name: String) throws(RejectionLineError) -> Int? {
        if try literal("null") { return nil }
        var value = 0
        var negative = false
        if try peek() == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        let start = index
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            guard index - start < 18 else { throw .corrupt("\"\(name)\" is too large") }
            value = value * 10 + Int(bytes[index] - 0x30)
            index += 1
        }
        guard index > start else {
            if index == bytes.count { throw .truncated }
            throw .corrupt("\"\(name)\" is not an integer")
        }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            throw .corrupt("\"\(name)\" is not an integer")
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

// MARK: - Filtering

/// Which records to keep: every given condition must hold; a condition with several values (two
/// `--reason`s) holds when any of them does.
public struct RejectionFilter: Sendable {
    /// Keep records at or after this time (milliseconds since the epoch).
    public var from: Int64?
    /// Keep records before this time (milliseconds since the epoch); `[from, to)`.
    public var to: Int64?
    /// Keep these reason codes.
    public var reasons: Set<String> = []
    /// Keep these HTTP statuses.
    public var statuses: Set<Int> = []
    /// Keep records whose route pattern or request path is one of these; a trailing `*` matches a
    /// prefix (`/ws/rooms/*`).
    public var routes: [String] = []
    /// Keep records from these clients: `ip:port`, an IP (any port), or a CIDR block.
    public var clients: [String] = [] {
        didSet {
            clientBlocks = clients.map { $0.contains("/") ? CIDRBlock(String(Self.host(of: $0))) : nil }
            clientAddresses = clients.map { CIDRBlock.addressBytes(String(Self.host(of: $0))) }
        }
    }
    /// Keep records with these subjects.
    public var subjects: [String] = []
    /// Keep records whose token fingerprint starts with one of these.
    public var tokenFingerprints: [String] = []

    private var clientBlocks: [CIDRBlock?] = []
    private var clientAddresses: [[UInt8]?] = []

    /// Creates a filter that keeps everything.
    public init() {}

    /// Whether nothing is filtered out.
    public var keepsEverything: Bool {
        from == nil && to == nil && reasons.isEmpty && statuses.isEmpty && routes.isEmpty && clients.isEmpty
            && subjects.isEmpty && tokenFingerprints.isEmpty
    }

    /// Whether `record` is kept.
    public func matches(_ record: RejectionRecord) -> Bool {
        if !reasons.isEmpty, !reasons.contains(record.reason) { return false }
        if !statuses.isEmpty, !statuses.contains(record.status) { return false }
        if from != nil || to != nil {
            guard let time = Self.epochMilliseconds(record.time) else { return false }
            if let from, time < from { return false }
            if let to, time >= to { return false }
        }
        if !routes.isEmpty, !routes.contains(where: { Self.route($0, matches: record) }) { return false }
        if !subjects.isEmpty, !subjects.contains(where: { $0 == record.sub }) { return false }
        if !tokenFingerprints.isEmpty {
            guard let fp = record.token_fp, tokenFingerprints.contains(where: { fp.hasPrefix($0.lowercased()) }) else { return false }
        }
        if !clients.isEmpty {
            guard let client = record.client, clientMatches(client) else { return false }
        }
        return true
    }

    private static func route(_ pattern: String, matches record: RejectionRecord) -> Bool {
        if record.route == pattern || record.path == pattern { return true }
        guard pattern.hasSuffix("*") else { return false }
        let prefix = pattern.dropLast()
        return record.path?.hasPrefix(prefix) == true || record.route?.hasPrefix(prefix) == true
    }

    private func clientMatches(_ client: String) -> Bool {
        let host = Self.host(of: client)
        var address: [UInt8]??
        func bytes() -> [UInt8]? {
            if address == nil { address = .some(CIDRBlock.addressBytes(String(host))) }
            return address!
        }
        for (index, wanted) in clients.enumerated() {
            if wanted.utf8.contains(UInt8(ascii: "/")) {
                // A CIDR block: any address inside it.
                if let block = clientBlocks[index], let bytes = bytes(), block.contains(bytes) { return true }
            } else if Self.hasPort(wanted) {
                if wanted == client { return true }
                // `[2001:DB8::1]:443` and `[2001:db8::1]:443` are one client.
                if Self.port(of: wanted) == Self.port(of: client), let wantedBytes = clientAddresses[index], wantedBytes == bytes() { return true }
            } else if Self.host(of: wanted) == host {
                return true
            } else if let wantedBytes = clientAddresses[index], wantedBytes == bytes() {
                // IPv6 has many spellings of one address.
                return true
            }
        }
        return false
    }

    /// The address part of `ip:port` or `[v6]:port`; the text itself when it has no port.
    public static func host(of client: String) -> Substring {
        let text = Substring(client)
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return text }
            return text[text.index(after: text.startIndex)..<close]
        }
        guard let colon = text.firstIndex(of: ":") else { return text }
        // A bare IPv6 address has several colons and no port.
        if text[text.index(after: colon)...].contains(where: { $0 == ":" }) { return text }
        return text[..<colon]
    }

    private static func port(of client: String) -> Substring? {
        guard hasPort(client), let colon = client.lastIndex(of: ":") else { return nil }
        return client[client.index(after: colon)...]
    }

    private static func hasPort(_ client: String) -> Bool {
        host(of: client).count != client.count && !(client.first == "[" && client.last == "]")
    }

    // MARK: Times

    /// Milliseconds since the epoch of an RFC 3339 time (`2026-11-25T15:30:01.123Z`, any number of
    /// fraction digits, `Z` or `±hh:mm`, `T` or a space); also `2026-11-25T15:30` and `2026-11-25`
    /// (UTC midnight), as operators type them.
    public static func epochMilliseconds(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { epochMilliseconds(bytes: $0) }
    }

    /// `epochMilliseconds(_:)` on bytes.
    static func epochMilliseconds(bytes b: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        func number(_ width: Int) -> Int? {
            guard i + width <= b.count else { return nil }
            var value = 0
            for _ in 0..<width {
                let d = b[i]
                guard d >= 0x30, d <= 0x39 else { return nil }
                value = value * 10 + Int(d - 0x30)
                i += 1
            }
            return value
        }
        func take(_ byte: UInt8) -> Bool {
            guard i < b.count, b[i] == byte else { return false }
            i += 1
            return true
        }
        guard let year = number(4), take(UInt8(ascii: "-")), let month = number(2), take(UInt8(ascii: "-")), let day = number(2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0, millis = 0, offset = 0
        if i < b.count {
            guard b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else { return nil }
            i += 1
            guard let h = number(2), take(UInt8(ascii: ":")), let m = number(2), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            if take(UInt8(ascii: ":")) {
                guard let s = number(2), s <= 60 else { return nil }
                second = s
                if take(UInt8(ascii: ".")) || take(UInt8(ascii: ",")) {
                    var digits = 0
                    while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                        if digits < 3 { millis = millis * 10 + Int(b[i] - 0x30) }
                        digits += 1
                        i += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in digits..<max(digits, 3) { millis *= 10 }
                }
            }
            if take(UInt8(ascii: "Z")) || take(UInt8(ascii: "z")) {
            } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = number(2) else { return nil }
                _ = take(UInt8(ascii: ":"))
                guard let om = number(2) else { return nil }
                offset = sign * (oh * 60 + om) * 60
            }
        }
        guard i == b.count else { return nil }
        // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Int64(seconds) * 1000 + Int64(millis)
    }

    /// The start time for `--since`: a span back from `now` (`10m`), or an RFC 3339 time as
    /// `epochMilliseconds(_:)` reads it; nil when it is neither.
    public static func start(since text: String, now: Date) -> Int64? {
        if let seconds = seconds(inSpan: text) {
            return Int64((now.timeIntervalSince1970 * 1000).rounded(.down)) - Int64((seconds * 1000).rounded())
        }
        return epochMilliseconds(text)
    }

    /// Seconds in a span such as `10m`, `90s`, `1h30m`, `2d`, `500ms`; a bare number is seconds.
    public static func seconds(inSpan text: String) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !text.isEmpty else { return nil }
        if let plain = Double(text), plain >= 0 { return plain }
        var total = 0.0
        var rest = Substring(text)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += value / 1000
            case "s", "sec", "secs": total += value
            case "m", "min", "mins": total += value * 60
            case "h", "hr", "hrs": total += value * 3600
            case "d", "day", "days": total += value * 86_400
            case "w", "week", "weeks": total += value * 604_800
            default: return nil
            }
        }
        return total
    }
}

// MARK: - Following

/// The live log as an endless sequence: every line already in the file, then `.caughtUp`, then
/// each line as it is appended, like `tail -F`.
///
/// It polls (every `pollInterval`, 250 ms by default) rather than relying on inotify, which keeps
/// it portable and correct on network file systems. Rotation is survived both ways logrotate does
/// it: when the path names a new file (a different inode: `create` mode) the rest of the old file is
/// read and then the new one from its start; when the file shrinks (`copytruncate`) it is read again
/// from its start. A file that does not exist yet is waited for. Iteration ends only when the task
/// is cancelled.
///
/// ```swift
/// for await event in RejectionLogFollower(path: "logs/rejections.jsonl") {
///     if case .record(let record) = event { print(record.jsonLine()) }
/// }
/// ```
public struct RejectionLogFollower: AsyncSequence, Sendable {
    /// An event of the log.
    public typealias Element = RejectionLogEvent
    /// Following never fails; problems are events.
    public typealias Failure = Never

    /// The live file's path.
    public let path: String
    /// How often to look for new lines when there were none.
    public let pollInterval: Duration

    /// Follows the file at `path`.
    public init(path: String, pollInterval: Duration = .milliseconds(250)) {
        self.path = path
        self.pollInterval = pollInterval
    }

    /// Starts following: opens the file on the first `next()`.
    public func makeAsyncIterator() -> Iterator {
        Iterator(cursor: RejectionLogCursor(path: path), pollInterval: pollInterval)
    }

    /// Waits for lines; returns nil only when the task is cancelled.
    public struct Iterator: AsyncIteratorProtocol {
        let cursor: RejectionLogCursor
        let pollInterval: Duration

        /// The next event, waiting for one to be appended when the file has none.
        public mutating func next(isolation actor: isolated (any Actor)? = #isolation) async -> RejectionLogEvent? {
            while !Task.isCancelled {
                if let event = cursor.nextEvent() { return event }
                try? await Task.sleep(for: pollInterval)
            }
            return nil
        }

        /// The next event, waiting for one to be appended when the file has none.
        public mutating func next() async -> RejectionLogEvent? {
            await next(isolation: nil)
        }
    }
}

/// The follower's position in the live file; reads whatever has been appended since the last look.
///
/// Synchronous and separate from the sequence so that each look is one plain call.
public final class RejectionLogCursor {
    /// The live file's path.
    public let path: String
    private var fd: Int32 = -1
    private var device: UInt64 = 0
    private var inode: UInt64 = 0
    private var offset: Int64 = 0
    private var scanner: RejectionLineScanner
    private var pending: [RejectionLogEvent] = []
    private var pendingIndex = 0
    private var caughtUp = false
    private var reportedMissing = false
    /// The last bytes read (up to 64), to notice the file being rewritten under the read position.
    private var tail: [UInt8] = []

    /// A cursor at the start of the file at `path` (which need not exist yet).
    public init(path: String) {
        self.path = path
        self.scanner = RejectionLineScanner(file: path)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// The next event already available, after one look at the file when none is queued; nil when
    /// nothing new has been written.
    public func nextEvent() -> RejectionLogEvent? {
        if pendingIndex == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            look()
        }
        guard pendingIndex < pending.count else { return nil }
        defer { pendingIndex += 1 }
        return pending[pendingIndex]
    }

    /// Reads what was appended; handles rotation and truncation.
    private func look() {
        if fd < 0 { openLive() }
        if fd >= 0 {
            if wasRewritten() {
                // `copytruncate`: the same file, emptied (and perhaps written again since the last
                // look); start again from its beginning.
                scanner.restart(file: path) { pending.append($0) }
                lseek(fd, 0, SEEK_SET)
                offset = 0
                tail.removeAll()
            }
            readToEnd()
        }
        if !caughtUp {
            caughtUp = true
            pending.append(.caughtUp)
        }
        guard fd >= 0 else { return }
        var now = stat()
        guard stat(path, &now) == 0 else { return }  // renamed away; the new file is not there yet
        if UInt64(now.st_dev) != device || UInt64(now.st_ino) != inode {
            // Rotated (`create`): the old file is finished; one last read catches a line written
            // just before the writer reopened.
            readToEnd()
            close(fd)
            fd = -1
            scanner.restart(file: path) { pending.append($0) }
            openLive()
            if fd >= 0 { readToEnd() }
        }
    }

    /// Whether the open file no longer holds what was read from it: it is shorter than the read
    /// position, or the bytes just before that position changed (emptied and refilled past it
    /// between two looks, which a size check alone would miss).
    private func wasRewritten() -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return false }
        if Int64(info.st_size) < offset { return true }
        guard !tail.isEmpty else { return false }
        var current = [UInt8](repeating: 0, count: tail.count)
        let count = current.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset - Int64(tail.count))) }
        return count != tail.count || current != tail
    }

    private func openLive() {
        let opened = open(path, O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else {
            if errno != ENOENT, !reportedMissing {
                reportedMissing = true
                pending.append(.problem(RejectionLogProblem(file: path, line: nil, message: "cannot open: \(String(cString: strerror(errno)))")))
            }
            return
        }
        var info = stat()
        fstat(opened, &info)
        fd = opened
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        offset = 0
        tail.removeAll()
        reportedMissing = false
    }

    private func readToEnd() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: RejectionLogReader.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = systemRead(fd, buffer.baseAddress, RejectionLogReader.chunkSize)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            offset += Int64(count)
            let kept = min(count, 64)
            tail.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(count - kept)..<count]))
            if tail.count > 64 { tail.removeFirst(tail.count - 64) }
            scanner.consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) { pending.append($0) }
        }
    }
}
