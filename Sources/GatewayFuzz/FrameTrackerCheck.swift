import GatewayRelay
import NIOCore

/// `FrameTracker` must report the same thing for the same bytes however the reads split them
/// (the relay sees arbitrary TCP segmentation), and the same as `FrameWalk`, a direct reading
/// of RFC 6455 §5.2. Input: byte 0 gives the number of cuts (mod 16), the next bytes give each
/// chunk's length, the rest is the byte stream.
enum FrameTrackerCheck {
    /// Small limits, so inputs reach both edges.
    static let maxFrameBytes = 1024
    static let maxMessageBytes = 4096

    /// What a tracker run ended with.
    struct Outcome: Equatable, CustomStringConvertible {
        /// The first size violation and the absolute offset of its frame's header (nil when
        /// the header began in an earlier read: the tracker only knows offsets in this read).
        var violation: (kind: FrameWalk.Violation, start: Int?)?
        /// Whole frames seen (before the violation, if any).
        var frames: UInt64 = 0
        /// A close frame was seen.
        var closeSeen = false
        /// The last close frame's status code, if it carried one.
        var closeStatus: UInt16?

        /// Equal when both saw the same violation (offsets compared where both know them) or
        /// none, and the same frames and close.
        static func == (a: Outcome, b: Outcome) -> Bool {
            switch (a.violation, b.violation) {
            case (nil, nil):
                return a.frames == b.frames && a.closeSeen == b.closeSeen && a.closeStatus == b.closeStatus
            case let (x?, y?):
                // The frames before a violation must agree too: the relay acted on them.
                guard x.kind == y.kind, a.frames == b.frames else { return false }
                if let p = x.start, let q = y.start { return p == q }
                return true
            default:
                return false
            }
        }

        /// One line for a failure message.
        var description: String {
            let violationText = violation.map { "\($0.kind) at \($0.start.map(String.init) ?? "earlier read")" } ?? "none"
            return "violation \(violationText), frames \(frames), close \(closeSeen ? String(describing: closeStatus) : "no")"
        }
    }

    /// True when the whole stream breaks no size limit.
    static func accepts(_ input: [UInt8]) -> Bool {
        guard let (_, stream) = split(input) else { return false }
        return run([stream[...]]).violation == nil
    }

    /// The chunk lengths and the stream of an input.
    static func split(_ input: [UInt8]) -> ([Int], [UInt8])? {
        guard let cutCount = input.first.map({ Int($0 % 16) }), input.count > cutCount else { return nil }
        return (input[1..<(1 + cutCount)].map { Int($0) }, Array(input[(1 + cutCount)...]))
    }

    /// Compares the whole read, the input's reads and the reference walk.
    static func check(_ input: [UInt8]) -> FuzzFailure? {
        guard let (lengths, stream) = split(input) else { return nil }
        var chunks: [ArraySlice<UInt8>] = []
        var start = 0
        for length in lengths where start < stream.count {
            let end = min(stream.count, start + length)
            chunks.append(stream[start..<end])
            start = end
        }
        if start < stream.count { chunks.append(stream[start...]) }

        let reference = FrameWalk(maxFrameBytes: UInt64(maxFrameBytes), maxMessageBytes: UInt64(maxMessageBytes)).walk(stream)
        let whole = run([stream[...]])
        let chunked = run(chunks)
        if whole != reference {
            return FuzzFailure("whole read: tracker says \(whole), RFC 6455 walk says \(reference)")
        }
        if chunked != reference {
            return FuzzFailure("reads of \(chunks.map(\.count)): tracker says \(chunked), RFC 6455 walk says \(reference)")
        }
        return nil
    }

    /// Feeds the reads as the relay does: stop at a size violation, go on after a close.
    static func run(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
        var tracker = FrameTracker(maxFrameBytes: maxFrameBytes, maxMessageBytes: maxMessageBytes)
        var outcome = Outcome()
        var offset = 0
        for chunk in chunks {
            let event = tracker.consume(ByteBuffer(bytes: chunk))
            switch event {
            case .frameTooLarge(let start)?:
                outcome.violation = (.frameTooLarge, start.map { offset + $0 })
            case .messageTooLarge(let start)?:
                outcome.violation = (.messageTooLarge, start.map { offset + $0 })
            case .close?, nil:
                break
            }
            offset += chunk.count
            if outcome.violation != nil { break }
        }
        outcome.frames = tracker.frames
        outcome.closeSeen = tracker.closeSeen
        outcome.closeStatus = tracker.closeStatus
        return outcome
    }
}
