#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
