/// RFC 6455 §5.2 read directly, one frame at a time over the whole stream: the model the
/// tracker is compared with. Shares no code with the tracker.
struct FrameWalk {
    /// A size limit a frame broke.
    enum Violation: Equatable {
        /// One frame announced more than `maxFrameBytes`.
        case frameTooLarge
        /// A message's fragments add up to more than `maxMessageBytes`.
        case messageTooLarge
    }

    /// The largest frame payload allowed.
    let maxFrameBytes: UInt64
    /// The largest message (all its fragments) allowed.
    let maxMessageBytes: UInt64

    /// Walks the frames of `bytes` from the start; an unfinished last frame is not counted.
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
