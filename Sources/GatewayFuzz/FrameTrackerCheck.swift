import GatewayServer
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
        var frames: UInt64 = 0
        var closeSeen = false
        var closeStatus: UInt16?

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

        var description: String {
            let violationText = violation.map { "\($0.kind) at \($0.start.map(String.init) ?? "earlier read")" } ?? "none"
            return "violation \(violationText), frames \(frames), close \(closeSeen ? String(describing: closeStatus) : "no")"
        }
    }

    static func accepts(_ input: [UInt8]) -> Bool {
        guard let (_, stream) = split(input) else { return false }
        return run([stream[...]]).violation == nil
    }

    /// The chunk lengths and the stream of an input.
    static func split(_ input: [UInt8]) -> ([Int], [UInt8])? {
        guard let cutCount = input.first.map({ Int($0 % 16) }), input.count > cutCount else { return nil }
        return (input[1..<(1 + cutCount)].map { Int($0) }, Array(input[(1 + cutCount)...]))
    }

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

/// RFC 6455 §5.2 read directly, one frame at a time over the whole stream: the model the
/// tracker is compared with. Shares no code with the tracker.
struct FrameWalk {
    enum Violation: Equatable {
        case frameTooLarge
        case messageTooLarge
    }

    let maxFrameBytes: UInt64
    let maxMessageBytes: UInt64

    func walk(_ bytes: [UInt8]) -> FrameTrackerCheck.Outcome {
        var outcome = FrameTrackerCheck.Outcome()
        var position = 0
        var messageBytes: UInt64 = 0
        while position + 2 <= bytes.count {
            let start = position
            let opcode = bytes[position] & 0x0F
            let masked = bytes[position + 1] & 0x80 != 0
            let length7 = Int(bytes[position + 1] & 0x7F)
            let extra = length7 == 126 ? 2 : length7 == 127 ? 8 : 0
            let headerLength = 2 + extra + (masked ? 4 : 0)
            guard position + headerLength <= bytes.count else { break }
            var length = UInt64(length7)
            if extra > 0 {
                length = 0
                for byte in bytes[(position + 2)..<(position + 2 + extra)] { length = length << 8 | UInt64(byte) }
            }
            // §5.2: a 64-bit length's most significant bit must be 0.
            if length > maxFrameBytes || length >= 1 << 63 {
                outcome.violation = (.frameTooLarge, start)
                return outcome
            }
            if opcode < 0x8 {
                if opcode != 0 { messageBytes = 0 }
                messageBytes += length
                if messageBytes > maxMessageBytes {
                    outcome.violation = (.messageTooLarge, start)
                    return outcome
                }
            }
            let payloadStart = position + headerLength
            guard UInt64(bytes.count - payloadStart) >= length else { break }
            if opcode == 0x8 {
                outcome.closeSeen = true
                outcome.closeStatus = nil
                if length >= 2 {
                    // §5.3: the payload is masked with the key's bytes in turn.
                    let key = masked ? Array(bytes[(payloadStart - 4)..<payloadStart]) : [0, 0, 0, 0]
                    outcome.closeStatus = UInt16(bytes[payloadStart] ^ key[0]) << 8 | UInt16(bytes[payloadStart + 1] ^ key[1])
                }
            }
            outcome.frames += 1
            position = payloadStart + Int(length)
        }
        return outcome
    }
}
