#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import GatewayServer
import GatewayText
import Logging

/// The gateway's own log: one line per event on stdout, as JSON or as text, with a UTC timestamp.
///
/// Built for the connection path, which logs a line when a connection opens and one when it
/// closes: the line is assembled in one byte buffer and handed to a `LogLineWriter`, which
/// writes whole lines in batches from its own thread (an event loop never blocks on a slow or
/// stalled stdout, and lines never interleave); the timestamp comes from `clock_gettime` and
/// `RFC3339`'s arithmetic (no time-zone database, unlike `localtime`, which glibc re-reads when
/// `TZ` is unset), and JSON strings are escaped by `JSONText` rather than through Foundation.
struct LineLogHandler: LogHandler {
    /// JSON objects or `key=value` text.
    enum Format: Sendable {
        case json
        case text
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    /// Where lines go (stdout).
    let writer: LogLineWriter

    init(label: String, format: Format, writer: LogLineWriter = .standardOutput) {
        self.label = label
        self.format = format
        self.writer = writer
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata, !extra.isEmpty {
            if fields.isEmpty { fields = extra } else { fields.merge(extra) { _, new in new } }
        }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        Self.appendLine(to: &line, format: format, label: label, level: event.level, message: event.message.description, fields: fields, now: Self.now())
        writer.enqueue(line)
    }

    /// Seconds and milliseconds since the epoch, from the real-time clock.
    static func now() -> (seconds: Int, milliseconds: Int) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (Int(spec.tv_sec), Int(spec.tv_nsec) / 1_000_000)
    }

    /// One line, newline included. Metadata keys are sorted so lines of the same event compare.
    static func appendLine(
        to line: inout [UInt8], format: Format, label: String, level: Logger.Level, message: String,
        fields: Logger.Metadata, now: (seconds: Int, milliseconds: Int)
    ) {
        let keys = fields.keys.sorted()
        switch format {
        case .json:
            line.append(contentsOf: #"{"time":""#.utf8)
            appendTimestamp(to: &line, now)
            line.append(contentsOf: #"","level":""#.utf8)
            line.append(contentsOf: level.rawValue.utf8)
            line.append(contentsOf: #"","msg":"#.utf8)
            JSONText.appendQuoted(message, to: &line)
            for key in keys {
                line.append(UInt8(ascii: ","))
                JSONText.appendQuoted(key, to: &line)
                line.append(UInt8(ascii: ":"))
                JSONText.appendQuoted(fields[key]!.description, to: &line)
            }
            line.append(contentsOf: "}\n".utf8)
        case .text:
            appendTimestamp(to: &line, now)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: level.rawValue.utf8)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: label.utf8)
            line.append(contentsOf: ": ".utf8)
            appendText(to: &line, message)
            for key in keys {
                line.append(UInt8(ascii: " "))
                appendText(to: &line, key)
                line.append(UInt8(ascii: "="))
                appendTextValue(to: &line, fields[key]!.description)
            }
            line.append(UInt8(ascii: "\n"))
        }
    }

    /// The current time as `appendTimestamp` writes it.
    static func timestampText() -> String {
        var line: [UInt8] = []
        appendTimestamp(to: &line, now())
        return String(decoding: line, as: UTF8.self)
    }

    /// `2026-11-25T19:40:01.123Z` (RFC 3339, UTC).
    static func appendTimestamp(to line: inout [UInt8], _ now: (seconds: Int, milliseconds: Int)) {
        RFC3339.append(epochMilliseconds: Int64(now.seconds) * 1000 + Int64(now.milliseconds), to: &line)
    }

    /// Text with control characters escaped, so one event is always one line.
    static func appendText(to line: inout [UInt8], _ text: String) {
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F {
                line.append(contentsOf: #"\x"#.utf8)
                line.append(hexDigit(byte >> 4))
                line.append(hexDigit(byte & 0xF))
            } else {
                line.append(byte)
            }
        }
    }

    /// A `key=value` value: quoted (JSON-style) when empty or when it holds a space, quote,
    /// `=` or control character, so the line splits unambiguously.
    static func appendTextValue(to line: inout [UInt8], _ text: String) {
        let plain = !text.isEmpty && text.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "=") }
        if plain { line.append(contentsOf: text.utf8) } else { JSONText.appendQuoted(text, to: &line) }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

}

/// Writes log lines to a descriptor from one background thread, in batches.
///
/// `enqueue` only appends to a buffer under a lock and wakes the writer when the buffer was
/// empty; the writer then lets lines gather for `batchWindow` before one `write(2)`. So the
/// threads that log (event loops) never block on the descriptor, and under load a wake-up and a
/// write serve many lines instead of one each (which, on a gateway pinned to one core, would
/// cost a context switch per line). When the descriptor
/// cannot keep up and `capacity` bytes are pending, further lines are dropped and counted, and a
/// line saying how many were lost is written once it drains again. `flush` (also run at exit)
/// waits, boundedly, until everything queued has been written.
final class LogLineWriter: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is read and written only with `condition` locked.
    /// The process's stdout.
    static let standardOutput = LogLineWriter(descriptor: 1)

    private let descriptor: Int32
    private let capacity: Int
    /// How long lines gather after the first one before they are written.
    private let batchWindow: UInt32 = 5_000  // µs
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var dropped = 0
    private var writing = false
    private var started = false

    init(descriptor: Int32, capacity: Int = 4 << 20) {
        self.descriptor = descriptor
        self.capacity = capacity
    }

    /// Queues one whole line (newline included).
    func enqueue(_ line: [UInt8]) {
        condition.lock()
        if !started {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "wsgate-log"
            thread.start()
            // Lines queued when the process exits are written before it does.
            atexit { LogLineWriter.standardOutput.flush(within: 2) }
        }
        if pending.count + line.count > capacity {
            dropped += 1
        } else {
            let wasEmpty = pending.isEmpty
            pending.append(contentsOf: line)
            // Broadcast, not signal: a `flush` may be waiting on the same condition, and waking
            // it instead of the writer would leave the lines unwritten.
            if wasEmpty { condition.broadcast() }
        }
        condition.unlock()
    }

    /// Waits until every queued line has been written, at most `seconds`.
    func flush(within seconds: Double) {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        while (!pending.isEmpty || writing) && condition.wait(until: deadline) {}
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && dropped == 0 { condition.wait() }
            condition.unlock()
            usleep(batchWindow)
            condition.lock()
            var batch: [UInt8] = []
            swap(&batch, &pending)
            let lost = dropped
            dropped = 0
            writing = true
            condition.unlock()

            if lost > 0 {
                let note = "\(LineLogHandler.timestampText()) warning wsgate: \(lost) log line\(lost == 1 ? "" : "s") dropped: stdout could not keep up\n"
                Self.write(Array(note.utf8), to: descriptor)
            }
            Self.write(batch, to: descriptor)

            condition.lock()
            writing = false
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Writes all of `bytes`; a closed or failing descriptor loses them rather than stopping the
    /// gateway.
    static func write(_ bytes: [UInt8], to descriptor: Int32) {
        _ = DescriptorWriter.writeAll(bytes, to: descriptor)
    }
}
