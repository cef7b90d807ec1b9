@testable import GatewayRelay
import NIOCore
import Testing

/// The refresh interceptor never lets a byte of a refresh message through and changes nothing
/// else, however the stream is fragmented and chunked.
@Suite struct RefreshInterceptorTests {
    /// A masked client frame.
    static func frame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, key: [UInt8] = [0x11, 0x22, 0x33, 0x44]) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            out.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            out += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: payload.count >> shift)) }
        }
        out += key
        for (i, byte) in payload.enumerated() { out.append(byte ^ key[i % 4]) }
        return out
    }

    static let refresh = Array(#"{"type":"wsgate.refresh","token":"abc.def.ghi"}"#.utf8)

    /// Runs `stream` through an interceptor in chunks of the given sizes.
    static func run(_ stream: [UInt8], chunks: [Int], max: Int = 4096) -> (forwarded: [UInt8], messages: [[UInt8]?]) {
        var interceptor = RefreshInterceptor(maxMessageBytes: max)
        var forwarded: [UInt8] = []
        var messages: [[UInt8]?] = []
        var offset = 0
        var sizes = chunks.makeIterator()
        while offset < stream.count {
            let size = Swift.min(Swift.max(1, sizes.next() ?? stream.count), stream.count - offset)
            let out = interceptor.consume(ByteBuffer(bytes: stream[offset..<(offset + size)]))
            for piece in out.forward { forwarded += piece.readableBytesView }
            messages += out.messages
            offset += size
        }
        return (forwarded, messages)
    }

    @Test func aWholeRefreshMessageIsTakenOutAndOthersPass() {
        let before = Self.frame(0x1, Array("hello".utf8))
        let after = Self.frame(0x2, [1, 2, 3])
        let result = Self.run(before + Self.frame(0x1, Self.refresh) + after, chunks: [])
        #expect(result.forwarded == before + after)
        #expect(result.messages == [Self.refresh])
    }

    @Test func jsonWhitespaceAroundTheMarkerIsStillARefresh() {
        // Python's json.dumps writes `{"type": "wsgate.refresh", "token": …}`.
        let spaced = Array(" {\n  \"type\" :\t\"wsgate.refresh\", \"token\": \"t\"}".utf8)
        let result = Self.run(Self.frame(0x1, spaced), chunks: [3])
        #expect(result.forwarded == [])
        #expect(result.messages == [spaced])
        // White space inside the tokens is not JSON white space around them: not a refresh.
        let broken = Self.frame(0x1, Array("{\"ty pe\":\"wsgate.refresh\"}".utf8))
        #expect(Self.run(broken, chunks: [2]).forwarded == broken)
        // Past the white-space bound the message is passed on undecided.
        let padded = Self.frame(0x1, Array(repeating: 0x20, count: MarkerMatcher.maxWhitespace + 1) + RefreshInterceptor.prefix)
        #expect(Self.run(padded, chunks: [100]).forwarded == padded)
    }

    @Test func lookalikesAndShortTextPassUntouched() {
        let lookalike = Self.frame(0x1, Array(#"{"type":"wsgate.refreshed"}"#.utf8))  // the marker ends with its quote
        let near = Self.frame(0x1, Array(#"{"type":"wsgate.refres!"}"#.utf8))
        let short = Self.frame(0x1, Array(#"{"type":"#.utf8))
        let binary = Self.frame(0x2, Self.refresh)  // binary messages are never refresh messages
        let stream = lookalike + near + short + binary
        #expect(Self.run(stream, chunks: []).forwarded == stream)
        #expect(Self.run(stream, chunks: Array(repeating: 1, count: stream.count)).forwarded == stream)
        // A payload that starts with the marker is a refresh message, whatever follows.
        #expect(Self.run(Self.frame(0x1, RefreshInterceptor.prefix + [0x7D]), chunks: []).forwarded == [])
    }

    @Test func aFragmentedRefreshWithAPingInsideLeavesOnlyThePing() {
        let ping = Self.frame(0x9, Array("p".utf8))
        let stream = Self.frame(0x1, Array(Self.refresh[0..<5]), fin: false) + ping
            + Self.frame(0x0, Array(Self.refresh[5..<30]), fin: false) + Self.frame(0x0, Array(Self.refresh[30...]))
        for chunking in [[], [1], [3, 7, 2], [100]] {
            let result = Self.run(stream, chunks: Array(repeating: chunking, count: 40).flatMap { $0 })
            #expect(result.forwarded == ping)
            #expect(result.messages == [Self.refresh])
        }
    }

    @Test func anOversizedRefreshIsDroppedAndReportedAtItsEnd() {
        let big = Self.refresh + Array(repeating: UInt8(ascii: " "), count: 5000)
        let result = Self.run(Self.frame(0x1, big) + Self.frame(0x1, Array("next".utf8)), chunks: [700])
        #expect(result.forwarded == Self.frame(0x1, Array("next".utf8)))
        #expect(result.messages == [nil])
    }

    /// Property: random streams of text/binary/control frames and refresh messages, random
    /// fragmentation and chunking: the forwarded bytes are exactly the stream without the refresh
    /// messages' data frames, and every refresh message is handed over once, in order.
    @Test func sameVerdictForEveryChunking() {
        var generator = SeededRandom(seed: 0x5EED)
        for _ in 0..<300 {
            var stream: [UInt8] = []
            var expected: [UInt8] = []
            var messages: [[UInt8]] = []
            for _ in 0..<Int(generator.next() % 6 + 1) {
                let kind = generator.next() % 4
                let payload: [UInt8]
                switch kind {
                case 0: payload = Self.refresh + Array(repeating: UInt8(ascii: "x"), count: Int(generator.next() % 300))
                case 1:
                    let marker = RefreshInterceptor.prefix
                    payload = Array(marker.prefix(Int(generator.next() % UInt64(marker.count)))) + [UInt8(ascii: "!")]
                default: payload = (0..<Int(generator.next() % 200)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                }
                let opcode: UInt8 = kind == 3 ? 0x2 : 0x1
                // Split into 1–3 fragments, a ping maybe between them.
                var pieces: [[UInt8]] = []
                var rest = payload[...]
                let parts = Int(generator.next() % 3 + 1)
                for part in 0..<parts {
                    let size = part == parts - 1 ? rest.count : Int(generator.next() % UInt64(rest.count + 1))
                    pieces.append(Array(rest.prefix(size)))
                    rest = rest.dropFirst(size)
                }
                for (i, piece) in pieces.enumerated() {
                    let bytes = Self.frame(i == 0 ? opcode : 0x0, piece, fin: i == pieces.count - 1)
                    stream += bytes
                    if kind != 0 { expected += bytes }
                    if i < pieces.count - 1, generator.next() % 2 == 0 {
                        let ping = Self.frame(0x9, [UInt8(i)])
                        stream += ping
                        expected += ping
                    }
                }
                if kind == 0 { messages.append(payload) }
            }
            let chunks = (0..<64).map { _ in Int(generator.next() % 40 + 1) }
            let result = Self.run(stream, chunks: chunks)
            #expect(result.forwarded == expected)
            #expect(result.messages == messages.map { Optional($0) })
            #expect(Self.run(stream, chunks: []).forwarded == expected)
        }
    }
}
