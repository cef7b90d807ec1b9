import GatewayServer
import NIOCore

/// PROXY protocol v1/v2 (`ProxyProtocolHeader.parse`) as `ProxyProtocolHandler` drives it: the
/// bytes so far are parsed after every read until the answer is not `.needMore`. Invariants:
/// the reads' answer equals the whole input's; a parsed length lies within the input; and
/// `.needMore` only while a header could still be completing (haproxy's proxy-protocol.txt:
/// a v1 line is at most 107 bytes, a v2 header is 16 bytes plus its announced length), so a
/// connection can never buffer without bound. Input layout as in `FrameTrackerCheck`.
enum ProxyHeaderCheck {
    /// True when the whole input parses as a header.
    static func accepts(_ input: [UInt8]) -> Bool {
        guard let (_, stream) = FrameTrackerCheck.split(input) else { return false }
        if case .parsed = ProxyProtocolHeader.parse(ByteBuffer(bytes: stream).readableBytesView) { return true }
        return false
    }

    /// Compares the reads with the whole input and checks `.needMore` is still possible.
    static func check(_ input: [UInt8]) -> FuzzFailure? {
        guard let (lengths, stream) = FrameTrackerCheck.split(input) else { return nil }

        let whole = ProxyProtocolHeader.parse(ByteBuffer(bytes: stream).readableBytesView)
        switch whole {
        case .parsed(_, let length):
            guard length > 0, length <= stream.count else {
                return FuzzFailure("parsed length \(length) outside the \(stream.count) bytes given")
            }
        case .needMore:
            if let problem = needMoreProblem(stream) { return problem }
        case .invalid:
            break
        }

        // The handler's view: accumulate reads, parse after each, stop at the first answer.
        var buffered: [UInt8] = []
        var start = 0
        var cuts = lengths.filter { $0 > 0 }
        cuts.append(stream.count)
        for length in cuts where start < stream.count {
            let end = min(stream.count, start + length)
            buffered += stream[start..<end]
            start = end
            let answer = ProxyProtocolHeader.parse(ByteBuffer(bytes: buffered).readableBytesView)
            if answer == .needMore { continue }
            if case .parsed = answer, answer != whole {
                return FuzzFailure("after \(buffered.count) of \(stream.count) bytes: \(answer); the whole input: \(whole)")
            }
            if case .invalid = answer, !isInvalid(whole) {
                return FuzzFailure("after \(buffered.count) of \(stream.count) bytes: \(answer); the whole input: \(whole)")
            }
            return nil
        }
        return nil
    }

    private static func isInvalid(_ result: ProxyProtocolHeader.Result) -> Bool {
        if case .invalid = result { return true }
        return false
    }

    /// Why `.needMore` is wrong for `stream`, or nil when a header may still be completing.
    private static func needMoreProblem(_ stream: [UInt8]) -> FuzzFailure? {
        let signature = ProxyProtocolHeader.v2Signature
        if stream.count >= 16, Array(stream.prefix(12)) == signature {
            let announced = Int(stream[14]) << 8 | Int(stream[15])
            if stream.count >= 16 + announced {
                return FuzzFailure("v2 header announcing \(announced) bytes still needs more after \(stream.count) bytes")
            }
        } else if stream.count >= ProxyProtocolHeader.v1MaximumLength {
            return FuzzFailure("no header after \(stream.count) bytes, yet more is wanted")
        }
        return nil
    }
}
