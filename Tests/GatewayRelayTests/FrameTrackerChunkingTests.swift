import NIOCore
import Testing

@testable import GatewayRelay

/// The tracker's verdict must not depend on how TCP cut the stream: random frame sequences
/// (seeded, so a failure replays), each fed whole, byte by byte, split at every offset, and in
/// random chunkings, must all agree with a frame-level model of RFC 6455 §5.2 and the limits.
@Suite struct FrameTrackerChunkingTests {
    static let maxFrameBytes = 200
    static let maxMessageBytes = 500

    typealias SeededGenerator = SeededRandom

    /// One generated frame: its bytes, and what the model expects of it.
    struct Frame {
        var bytes: [UInt8]
        var opcode: UInt8
        /// The payload length the header announces (oversize frames carry only their header).
        var declared: UInt64
        var closeCode: UInt16?
    }

    /// What a whole stream should produce.
    struct Verdict: Equatable, CustomStringConvertible {
        /// "frameTooLarge" / "messageTooLarge" and the stream offset of that frame's header.
        var violation: (kind: String, start: Int)?
        var frames: UInt64
        var closeSeen: Bool
        var closeStatus: UInt16?
        /// The code of the last close event reported (nil inside when the close had no code).
        var lastClose: UInt16??

        static func == (a: Verdict, b: Verdict) -> Bool {
            a.violation?.kind == b.violation?.kind && a.violation?.start == b.violation?.start
                && a.frames == b.frames && a.closeSeen == b.closeSeen && a.closeStatus == b.closeStatus
                && a.lastClose == b.lastClose
        }

        var description: String {
            "violation \(violation.map { "\($0.kind)@\($0.start)" } ?? "none"), frames \(frames), closeSeen \(closeSeen), closeStatus \(closeStatus.map(String.init) ?? "nil"), lastClose \(lastClose.map { $0.map(String.init) ?? "no code" } ?? "none")"
        }
    }

    /// A frame header (and payload) like a peer would write it; `declared` overrides the length
    /// announced, for oversize frames whose payload never follows.
    static func encode(opcode: UInt8, fin: Bool, payload: [UInt8], masked: Bool, declared: UInt64? = nil, using rng: inout SeededGenerator) -> [UInt8] {
        let length = declared ?? UInt64(payload.count)
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if length < 126 {
            out.append(maskBit | UInt8(length))
        } else if length <= 0xffff {
            out += [maskBit | 126, UInt8(length >> 8), UInt8(length & 0xff)]
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        }
        if masked {
            let key = (0..<4).map { _ in UInt8.random(in: 0...255, using: &rng) }
            out += key
            out += payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
        } else {
            out += payload
        }
        return out
    }

    /// A random sequence of 1–12 frames: text, binary, fragments, pings, pongs, closes with an
    /// empty payload or a code (and maybe a reason), and now and then an oversize frame or a
    /// fragment that overflows the message limit.
    static func sequence(using rng: inout SeededGenerator) -> [Frame] {
        var frames: [Frame] = []
        let masked = Bool.random(using: &rng)
        var inMessage = false
        for _ in 0..<Int.random(in: 1...12, using: &rng) {
            func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }
            let pick = Int.random(in: 0..<100, using: &rng)
            switch pick {
            case 0..<30:  // a whole data frame, sometimes with a 16-bit length
                let size = Int.random(in: 0..<10, using: &rng) == 0 ? Int.random(in: 126...maxFrameBytes, using: &rng) : Int.random(in: 0...40, using: &rng)
                let opcode: UInt8 = inMessage ? 0 : (Bool.random(using: &rng) ? 1 : 2)
                let fin = !inMessage || Bool.random(using: &rng)
                frames.append(Frame(bytes: encode(opcode: opcode, fin: fin, payload: bytes(size), masked: masked, using: &rng), opcode: opcode, declared: UInt64(size)))
                inMessage = !fin
            case 30..<45:  // a fragment that starts or continues a message
                let size = Int.random(in: 50...maxFrameBytes, using: &rng)
                let opcode: UInt8 = inMessage ? 0 : 2
                frames.append(Frame(bytes: encode(opcode: opcode, fin: false, payload: bytes(size), masked: masked, using: &rng), opcode: opcode, declared: UInt64(size)))
                inMessage = true
            case 45..<60:  // ping or pong, 0–125 bytes
                let opcode: UInt8 = Bool.random(using: &rng) ? 0x9 : 0xA
                let size = Int.random(in: 0...125, using: &rng)
                frames.append(Frame(bytes: encode(opcode: opcode, fin: true, payload: bytes(size), masked: masked, using: &rng), opcode: opcode, declared: UInt64(size)))
            case 60..<75:  // an empty close
                frames.append(Frame(bytes: encode(opcode: 0x8, fin: true, payload: [], masked: masked, using: &rng), opcode: 0x8, declared: 0))
            case 75..<90:  // a close with a code and maybe a reason
                let code = UInt16.random(in: 1000...4999, using: &rng)
                let payload = [UInt8(code >> 8), UInt8(code & 0xff)] + Array("bye".utf8.prefix(Int.random(in: 0...3, using: &rng)))
                frames.append(Frame(bytes: encode(opcode: 0x8, fin: true, payload: payload, masked: masked, using: &rng), opcode: 0x8, declared: UInt64(payload.count), closeCode: code))
            default:  // oversize: one past the frame limit, or a huge 64-bit length (8 MiB)
                let declared: UInt64 = Bool.random(using: &rng) ? UInt64(maxFrameBytes + 1) : 8 << 20
                frames.append(Frame(bytes: encode(opcode: 2, fin: true, payload: [], masked: masked, declared: declared, using: &rng), opcode: 2, declared: declared))
                return frames  // nothing after it is ever examined
            }
        }
        return frames
    }

    /// The frame-level model: limits checked per header, fragments summed per message.
    static func expected(_ frames: [Frame]) -> Verdict {
        var verdict = Verdict(violation: nil, frames: 0, closeSeen: false, closeStatus: nil, lastClose: nil)
        var offset = 0
        var message: UInt64 = 0
        for frame in frames {
            if frame.declared > UInt64(maxFrameBytes) {
                verdict.violation = ("frameTooLarge", offset)
                return verdict
            }
            if frame.opcode < 0x8 {
                if frame.opcode != 0 { message = 0 }
                message += frame.declared
                if message > UInt64(maxMessageBytes) {
                    verdict.violation = ("messageTooLarge", offset)
                    return verdict
                }
            }
            verdict.frames += 1
            if frame.opcode == 0x8 {
                verdict.closeSeen = true
                verdict.closeStatus = frame.closeCode
                verdict.lastClose = .some(frame.closeCode)
            }
            offset += frame.bytes.count
        }
        return verdict
    }

    /// Feeds `stream` cut at `cuts` (sorted offsets strictly inside it) and reports the verdict.
    static func observe(_ stream: [UInt8], cuts: [Int]) -> Verdict {
        var tracker = FrameTracker(maxFrameBytes: maxFrameBytes, maxMessageBytes: maxMessageBytes)
        var verdict = Verdict(violation: nil, frames: 0, closeSeen: false, closeStatus: nil, lastClose: nil)
        var start = 0
        for end in cuts + [stream.count] {
            let event = tracker.consume(ByteBuffer(bytes: stream[start..<end]))
            switch event {
            case .close(let code)?:
                verdict.lastClose = .some(code)
            case .frameTooLarge(let at)?, .messageTooLarge(let at)?:
                let kind = if case .frameTooLarge = event { "frameTooLarge" } else { "messageTooLarge" }
                // A header begun in an earlier chunk has no offset here; the last header start
                // before this chunk is then the only place it can have begun.
                verdict.violation = (kind, at.map { start + $0 } ?? -1)
                // A close in the same chunk as a violation is not reported as an event (the
                // violation ends relaying); the counters below still say it was seen.
                verdict.lastClose = tracker.closeSeen ? .some(tracker.closeStatus) : nil
                verdict.frames = tracker.frames
                verdict.closeSeen = tracker.closeSeen
                verdict.closeStatus = tracker.closeStatus
                return verdict
            case nil:
                break
            }
            start = end
        }
        #expect(tracker.bytes == UInt64(stream.count))
        #expect(tracker.isAtFrameBoundary, "a stream of whole frames must end at a boundary")
        verdict.frames = tracker.frames
        verdict.closeSeen = tracker.closeSeen
        verdict.closeStatus = tracker.closeStatus
        return verdict
    }

    /// A violation reported without an offset (header split across chunks) must come from a
    /// header that began before the chunk it completed in; swap in the model's offset once that
    /// is checked, so the comparison covers everything else.
    static func reconcile(_ observed: Verdict, with model: Verdict, cuts: [Int]) -> Verdict {
        guard let violation = observed.violation, violation.start == -1, let expected = model.violation else { return observed }
        var fixed = observed
        // The chunk that completed the header starts at the last cut not after the header's end;
        // the header began before that cut.
        if cuts.contains(where: { $0 > expected.start }) { fixed.violation = (violation.kind, expected.start) }
        return fixed
    }

    @Test("300 random frame sequences: whole, byte by byte, every two-way split and 20 random chunkings agree with the model")
    func sameVerdictWhateverTheChunking() {
        var rng = SeededGenerator(seed: 0x5753_4741_5445)  // "WSGATE"
        for round in 0..<300 {
            let frames = Self.sequence(using: &rng)
            let stream = frames.flatMap(\.bytes)
            let model = Self.expected(frames)
            var chunkings: [[Int]] = [[], Array(1..<max(1, stream.count))]
            for cut in 1..<max(1, stream.count) { chunkings.append([cut]) }
            for _ in 0..<20 {
                let count = Int.random(in: 1...8, using: &rng)
                let cuts = Set((0..<count).map { _ in Int.random(in: 1...max(1, stream.count), using: &rng) }).filter { $0 < stream.count }
                chunkings.append(cuts.sorted())
            }
            for cuts in chunkings {
                let observed = Self.reconcile(Self.observe(stream, cuts: cuts), with: model, cuts: cuts)
                #expect(observed == model, "round \(round), cuts \(cuts.count <= 8 ? "\(cuts)" : "byte by byte"): \(observed) vs model \(model)")
                if observed != model { return }
            }
        }
    }

    @Test("an empty close and an 8 MiB frame header in one chunk: the header is still refused, at its offset")
    func emptyCloseThenOversizeHeaderInOneChunk() {
        var rng = SeededGenerator(seed: 1)
        let close = Self.encode(opcode: 0x8, fin: true, payload: [], masked: true, using: &rng)
        let huge = Self.encode(opcode: 2, fin: true, payload: [], masked: true, declared: 8 << 20, using: &rng)
        var tracker = FrameTracker(maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20)
        #expect(tracker.consume(ByteBuffer(bytes: close + huge)) == .frameTooLarge(frameStart: close.count))
        #expect(tracker.closeSeen && tracker.closeStatus == nil && tracker.frames == 1)
    }

    @Test("an empty close followed by a ping in one chunk: the boundary after the ping is known")
    func emptyCloseThenPingKeepsTheBoundary() {
        var rng = SeededGenerator(seed: 2)
        let close = Self.encode(opcode: 0x8, fin: true, payload: [], masked: false, using: &rng)
        let ping = Self.encode(opcode: 0x9, fin: true, payload: [1, 2, 3], masked: false, using: &rng)
        var tracker = FrameTracker(maxFrameBytes: 100, maxMessageBytes: 100)
        #expect(tracker.consume(ByteBuffer(bytes: close + ping.prefix(3))) == .close(code: nil))
        #expect(!tracker.isAtFrameBoundary)
        #expect(tracker.consume(ByteBuffer(bytes: ping.dropFirst(3))) == nil)
        #expect(tracker.isAtFrameBoundary && tracker.frames == 2)
    }
}
