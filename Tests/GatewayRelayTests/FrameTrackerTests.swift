import NIOCore
import Testing

@testable import GatewayRelay

/// The frame-boundary tracker, without sockets: headers split across chunks, limits, close codes.
@Suite struct FrameTrackerTests {
    static func frame(opcode: UInt8, fin: Bool = true, payload: [UInt8], mask: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        if payload.count < 126 {
            out.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xffff {
            out += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: payload.count >> shift)) }
        }
        if let mask {
            out += mask
            out += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        } else {
            out += payload
        }
        return out
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func countsFramesWhateverTheChunking(chunk: Int) {
        let bytes = Self.frame(opcode: 1, payload: Array("hello".utf8))
            + Self.frame(opcode: 2, payload: [UInt8](repeating: 9, count: 300))
            + Self.frame(opcode: 2, payload: [UInt8](repeating: 1, count: 70_000), mask: [1, 2, 3, 4])
            + Self.frame(opcode: 8, payload: [0x03, 0xe8] + Array("bye".utf8), mask: [9, 8, 7, 6])
        var tracker = FrameTracker(maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20)
        var events: [FrameTracker.Event] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            if let event = tracker.consume(ByteBuffer(bytes: bytes[offset..<end])) { events.append(event) }
            offset = end
        }
        #expect(tracker.frames == 4)
        #expect(tracker.bytes == UInt64(bytes.count))
        #expect(tracker.isAtFrameBoundary)
        #expect(events == [.close(code: 1000)])
        #expect(tracker.closeStatus == 1000)
    }

    @Test func boundaryIsFalseMidFrame() {
        var tracker = FrameTracker(maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20)
        let bytes = Self.frame(opcode: 1, payload: Array("hello".utf8))
        _ = tracker.consume(ByteBuffer(bytes: bytes.prefix(3)))
        #expect(!tracker.isAtFrameBoundary)
        _ = tracker.consume(ByteBuffer(bytes: bytes.dropFirst(3)))
        #expect(tracker.isAtFrameBoundary)
    }

    @Test func oversizeFrameReportsWhereItStarted() {
        var tracker = FrameTracker(maxFrameBytes: 100, maxMessageBytes: 1000)
        let small = Self.frame(opcode: 1, payload: [65, 66])
        let big = Self.frame(opcode: 2, payload: [UInt8](repeating: 0, count: 101))
        #expect(tracker.consume(ByteBuffer(bytes: small + big)) == .frameTooLarge(frameStart: small.count))
    }

    @Test func fragmentsAddUpToTheMessageLimit() {
        var tracker = FrameTracker(maxFrameBytes: 100, maxMessageBytes: 150)
        let first = Self.frame(opcode: 1, fin: false, payload: [UInt8](repeating: 65, count: 80))
        let second = Self.frame(opcode: 0, fin: true, payload: [UInt8](repeating: 65, count: 80))
        #expect(tracker.consume(ByteBuffer(bytes: first)) == nil)
        #expect(tracker.consume(ByteBuffer(bytes: second)) == .messageTooLarge(frameStart: 0))
    }

    @Test func a64BitLengthWithTheTopBitSetIsRefused() {
        var tracker = FrameTracker(maxFrameBytes: Int.max, maxMessageBytes: Int.max)
        let header: [UInt8] = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]
        #expect(tracker.consume(ByteBuffer(bytes: header)) == .frameTooLarge(frameStart: 0))
    }

    @Test func aPongAnsweringTheGatewayIsMarkedForConsumption() {
        var tracker = FrameTracker(maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20)
        let text = Self.frame(opcode: 1, payload: Array("hi".utf8), mask: [1, 2, 3, 4])
        let pong = Self.frame(opcode: 0xA, payload: GatewayFrame.keepalivePayload, mask: [5, 6, 7, 8])
        // Not expected: forwarded like any unsolicited pong.
        _ = tracker.consume(ByteBuffer(bytes: text + pong))
        #expect(tracker.consumedPong == nil)
        tracker.pongsExpected = 1
        _ = tracker.consume(ByteBuffer(bytes: text + pong + text))
        #expect(tracker.consumedPong == text.count..<(text.count + pong.count))
        #expect(tracker.pongsExpected == 0)
        // A pong of another length is the client's own.
        tracker.pongsExpected = 1
        _ = tracker.consume(ByteBuffer(bytes: Self.frame(opcode: 0xA, payload: [1, 2], mask: [1, 1, 1, 1])))
        #expect(tracker.consumedPong == nil)
    }

    @Test func aPongOfTheSameLengthWithAnotherPayloadIsTheClients() {
        var tracker = FrameTracker(maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20)
        // Nine bytes, like "wsgate-ka", differing only in the last one.
        let own = Self.frame(opcode: 0xA, payload: Array("wsgate-kb".utf8), mask: [9, 8, 7, 6])
        tracker.pongsExpected = 1
        _ = tracker.consume(ByteBuffer(bytes: own))
        #expect(tracker.consumedPong == nil)
        #expect(tracker.pongsExpected == 1)
        // The real answer right behind it is still recognised.
        let real = Self.frame(opcode: 0xA, payload: GatewayFrame.keepalivePayload, mask: [9, 8, 7, 6])
        _ = tracker.consume(ByteBuffer(bytes: own + real))
        #expect(tracker.consumedPong == own.count..<(own.count + real.count))
        #expect(tracker.pongsExpected == 0)
    }

    @Test(arguments: [UInt8(0x40), 0x20, 0x10])
    func aPongWithAnRSVBitIsNotTheGateways(rsv: UInt8) {
        var tracker = FrameTracker(maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20)
        var pong = Self.frame(opcode: 0xA, payload: GatewayFrame.keepalivePayload, mask: [1, 2, 3, 4])
        pong[0] |= rsv
        tracker.pongsExpected = 1
        _ = tracker.consume(ByteBuffer(bytes: pong))
        #expect(tracker.consumedPong == nil)
        #expect(tracker.pongsExpected == 1)
    }

    @Test func injectedFramesAreMaskedOnlyTowardBackends() {
        let toClient = GatewayFrame.close(code: 4001, reason: "token expired", masked: false, allocator: ByteBufferAllocator())
        #expect(Array(buffer: toClient) == [0x88, 15, 0x0f, 0xa1] + Array("token expired".utf8))
        let toBackend = GatewayFrame.close(code: 1001, reason: "", masked: true, allocator: ByteBufferAllocator())
        let bytes = Array(buffer: toBackend)
        #expect(bytes[0] == 0x88 && bytes[1] == 0x82)
        let key = Array(bytes[2..<6])
        #expect([bytes[6] ^ key[0], bytes[7] ^ key[1]] == [0x03, 0xe9])
    }
}
