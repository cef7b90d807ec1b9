import NIOCore

/// Takes token-refresh messages (`{"type":"wsgate.refresh",…}`, SESSIONS.md) out of the client's
/// frame stream before anything reaches the backend; used on routes with `token_refresh` only.
///
/// Works on the raw (masked) bytes as they arrive, like `FrameTracker`, and never copies a payload
/// it passes on: it reads frame headers and unmasks only the first `prefix.count` payload bytes of
/// each text message. A message whose start is still a prefix of the marker is held back until it
/// is decided, so no byte of a refresh message, however fragmented, is ever forwarded; everything
/// else is released in order, untouched. A refresh message is collected (bounded) and handed over
/// whole at its FIN; control frames inside it still pass.
package struct RefreshInterceptor {
    /// The bytes a refresh message starts with.
    static let prefix: [UInt8] = Array(#"{"type":"wsgate.refresh""#.utf8)

    /// What became of one chunk.
    package struct Output {
        /// Bytes to forward, in order.
        package var forward: [ByteBuffer] = []
        /// Refresh messages completed in this chunk: the unmasked payload, or nil when the message
        /// was over the size bound (its bytes were dropped all the same).
        package var messages: [[UInt8]?] = []
    }

    private enum Mode {
        /// Between messages, or inside a message that is not a refresh: pass through.
        case pass
        /// A text message that may still be a refresh: its bytes (and frames after it) are held.
        case undecided
        /// A refresh message: its data bytes are dropped and its payload collected.
        case capture
    }

    /// Where the bytes of the current frame go.
    private enum Destination {
        case forward
        case hold
        case drop
    }

    private let maxMessageBytes: Int
    private var mode = Mode.pass
    /// Inside a fragmented data message (a data frame without FIN was seen).
    private var inMessage = false

    // The frame being read.
    private var header: [UInt8] = []
    private var headerLength = 2
    private var readingHeader = true
    private var fin = false
    private var isControl = false
    private var maskKey: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
    private var remaining: UInt64 = 0
    private var payloadOffset: UInt64 = 0
    private var destination = Destination.forward

    /// Bytes held while undecided, in order.
    private var held = ByteBuffer()
    /// The control frames among them: forwarded when the message turns out to be a refresh.
    private var heldControl = ByteBuffer()
    /// The message payload seen so far while undecided or captured (unmasked).
    private var payload: [UInt8] = []
    private var oversized = false
    /// How far the undecided message matches the marker.
    private var marker = MarkerMatcher()

    /// Creates an interceptor; refresh messages over `maxMessageBytes` are dropped and reported.
    package init(maxMessageBytes: Int) {
        self.maxMessageBytes = max(RefreshInterceptor.prefix.count, maxMessageBytes)
    }

    /// Whether bytes are held back: frames of the gateway's own toward the backend must wait.
    package var isHolding: Bool { held.readableBytes > 0 || (readingHeader && !header.isEmpty) }

    /// Splits one chunk into what to forward and the refresh messages it completed.
    package mutating func consume(_ buffer: ByteBuffer) -> Output {
        var output = Output()
        let base = buffer.readerIndex
        let count = buffer.readableBytes
        var run: Int?  // start of the forward run open in this chunk
        var headerStart: Int?  // where the header being read began in this chunk (nil: earlier)

        func slice(_ start: Int, _ end: Int) -> ByteBuffer { buffer.getSlice(at: base + start, length: end - start)! }
        func endRun(_ end: Int) {
            if let start = run, end > start { output.forward.append(slice(start, end)) }
            run = nil
        }

        buffer.withUnsafeReadableBytes { raw in
            var index = 0
            while index < count {
                if readingHeader {
                    if header.isEmpty { headerStart = index }
                    header.append(raw[index])
                    index += 1
                    if header.count == 2 {
                        let length7 = header[1] & 0x7F
                        headerLength = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + (header[1] & 0x80 != 0 ? 4 : 0)
                    }
                    guard header.count == headerLength else { continue }
                    // The header is whole: the frame's kind decides where it goes.
                    let startInChunk = headerStart ?? 0
                    let carried = header.count - (index - startInChunk)  // header bytes from an earlier chunk
                    beginFrame()
                    switch destination {
                    case .forward:
                        if carried > 0 {
                            endRun(startInChunk)
                            output.forward.append(ByteBuffer(bytes: header.prefix(carried)))
                        }
                        if run == nil { run = startInChunk }
                    case .hold:
                        endRun(startInChunk)
                        held.writeBytes(header.prefix(carried))
                        held.writeImmutableBuffer(slice(startInChunk, index))
                        if isControl {
                            heldControl.writeBytes(header.prefix(carried))
                            heldControl.writeImmutableBuffer(slice(startInChunk, index))
                        }
                    case .drop:
                        endRun(startInChunk)
                    }
                    header.removeAll(keepingCapacity: true)
                    headerStart = nil
                    if remaining == 0 { finishFrame(&output, at: index, run: &run) }
                    continue
                }
                let take = Int(min(UInt64(count - index), remaining))
                var start = index
                let end = index + take
                if destination == .hold, !isControl {
                    // Undecided: compare payload bytes with the marker until they differ or match.
                    while index < end, mode == .undecided {
                        let byte = unmask(raw[index], at: payloadOffset + UInt64(index - start))
                        index += 1
                        let verdict = marker.feed(byte)
                        if verdict == .pending { continue }
                        if verdict == .mismatch {
                            // Not a refresh: release what was held, pass the rest on.
                            held.writeImmutableBuffer(slice(start, index))
                            output.forward.append(held)
                            held = ByteBuffer()
                            heldControl = ByteBuffer()
                            payload = []
                            mode = .pass
                            destination = .forward
                            run = index
                        } else {
                            // A refresh message: what was held is dropped but for control
                            // frames inside it; the rest is collected.
                            held = ByteBuffer()
                            if heldControl.readableBytes > 0 {
                                output.forward.append(heldControl)
                                heldControl = ByteBuffer()
                            }
                            payload = marker.seen
                            mode = .capture
                            destination = .drop
                        }
                    }
                    if mode == .undecided { held.writeImmutableBuffer(slice(start, index)) }
                    payloadOffset += UInt64(index - start)
                    remaining -= UInt64(index - start)
                    start = index
                }
                switch destination {
                case .forward:
                    if run == nil { run = start }
                case .hold:
                    if end > start {
                        held.writeImmutableBuffer(slice(start, end))
                        if isControl { heldControl.writeImmutableBuffer(slice(start, end)) }
                    }
                case .drop:
                    if mode == .capture, !isControl, !oversized {
                        if payload.count + (end - start) > maxMessageBytes {
                            oversized = true
                            payload = []
                        } else {
                            for position in start..<end { payload.append(unmask(raw[position], at: payloadOffset + UInt64(position - start))) }
                        }
                    }
                }
                payloadOffset += UInt64(end - start)
                remaining -= UInt64(end - start)
                index = end
                if remaining == 0 { finishFrame(&output, at: index, run: &run) }
            }
        }
        if readingHeader, let start = headerStart, !header.isEmpty {
            // A header split across chunks: its bytes wait in `header` until its kind is known.
            endRun(start)
        } else {
            endRun(count)
        }
        return output
    }

    private func unmask(_ byte: UInt8, at offset: UInt64) -> UInt8 {
        switch offset & 3 {
        case 0: byte ^ maskKey.0
        case 1: byte ^ maskKey.1
        case 2: byte ^ maskKey.2
        default: byte ^ maskKey.3
        }
    }

    /// Reads the whole header and decides the frame's destination.
    private mutating func beginFrame() {
        let opcode = header[0] & 0x0F
        fin = header[0] & 0x80 != 0
        let masked = header[1] & 0x80 != 0
        let length7 = header[1] & 0x7F
        let lengthBytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0
        var length = UInt64(length7)
        if lengthBytes > 0 {
            length = 0
            for i in 0..<lengthBytes { length = length << 8 | UInt64(header[2 + i]) }
        }
        maskKey = masked ? (header[2 + lengthBytes], header[3 + lengthBytes], header[4 + lengthBytes], header[5 + lengthBytes]) : (0, 0, 0, 0)
        remaining = length
        payloadOffset = 0
        readingHeader = false
        isControl = opcode & 0x08 != 0
        switch mode {
        case .pass:
            if opcode == 0x1, !inMessage {
                // A text message begins: undecided until its first bytes are seen.
                mode = .undecided
                payload = []
                marker = MarkerMatcher()
                destination = .hold
            } else {
                destination = .forward
            }
        case .undecided:
            destination = .hold  // everything after an undecided start waits with it, in order
        case .capture:
            destination = isControl ? .forward : .drop
        }
        if !isControl { inMessage = !fin }
    }

    /// The current frame's last byte was read.
    private mutating func finishFrame(_ output: inout Output, at index: Int, run: inout Int?) {
        readingHeader = true
        headerLength = 2
        // A control frame inside a captured message was forwarded; the next dropped frame's
        // header closes its run.
        guard !isControl, fin else { return }
        switch mode {
        case .pass:
            break
        case .undecided:
            // The whole message was shorter than the marker: not a refresh.
            output.forward.append(held)
            held = ByteBuffer()
            heldControl = ByteBuffer()
            payload = []
            mode = .pass
            run = index
        case .capture:
            output.messages.append(oversized ? nil : payload)
            payload = []
            oversized = false
            mode = .pass
        }
    }
}

/// Matches the start of a message against `{"type":"wsgate.refresh"`, allowing JSON white space
/// where JSON allows it (before `{` and around `"type"` and `:`), up to `maxWhitespace` bytes in
/// all, since common encoders write `{"type": "wsgate.refresh"` (Python's `json.dumps`).
struct MarkerMatcher {
    enum Verdict {
        case pending
        case match
        case mismatch
    }

    /// Most white space accepted before the marker is decided (bounds what is held).
    static let maxWhitespace = 1024
    /// Marker positions before which white space may stand: `{`, `"type"`, `:`, `"wsgate.refresh"`.
    private static let whitespaceBefore: Set<Int> = [0, 1, 7, 8]

    private var position = 0
    private var whitespace = 0
    /// The bytes fed so far (the start of the refresh message once it matches).
    private(set) var seen: [UInt8] = []

    /// Feeds one payload byte.
    mutating func feed(_ byte: UInt8) -> Verdict {
        seen.append(byte)
        let marker = RefreshInterceptor.prefix
        if byte == marker[position] {
            position += 1
            return position == marker.count ? .match : .pending
        }
        let isWhitespace = byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
        guard isWhitespace, MarkerMatcher.whitespaceBefore.contains(position), whitespace < MarkerMatcher.maxWhitespace else {
            return .mismatch
        }
        whitespace += 1
        return .pending
    }
}
