import Foundation
import GatewayHandshake

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The reading side of the rejection log (`wsgate rejections`): finds the log and its rotated
// siblings, splits them into lines, turns each line back into a `RejectionRecord`, filters, and
// follows the live file across rotation. Everything here is independent of the command line so it
// can be tested with real files in a temporary directory.

/// `read(2)`, named apart from the reader's own `read` methods (the cursor uses it too).
func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// Reads rejection log files and turns their lines into `RejectionRecord`s.
///
/// Lines are parsed by a small hand-written parser for the flat JSON object that
/// `RejectionRecord.jsonLine()` writes (the keys spelled once, in `RejectionField`, for both
/// sides, so writer and reader cannot drift). It accepts keys in any order, ignores unknown keys (whatever their value), treats
/// `null` as absent, and rejects anything that is not one JSON object, so a corrupt or truncated
/// line becomes a `RejectionLogProblem` and never stops the reading.
public struct RejectionLogReader: Sendable {
    /// Bytes read per `read(2)`.
    static let chunkSize = 1 << 20

    /// Creates a reader.
    public init() {}

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
