import NIOHTTP1
import Testing

@testable import GatewayServer

/// Pieces of the pure handshake pipeline tested without sockets.
@Suite struct HandshakePlannerTests {
    @Test func generatedRequestIDsAre128RandomBitsInHex() {
        let ids = (0..<64).map { _ in HandshakePlanner.requestID(from: HTTPHeaders()) }
        for id in ids {
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(id)")
        }
        #expect(Set(ids).count == ids.count)
        // Every nibble value appears somewhere (the hex digits are not stuck).
        #expect(Set(ids.joined()).count == 16)
    }

    @Test func aPlainClientRequestIDIsKeptAndOthersReplaced() {
        #expect(HandshakePlanner.requestID(from: ["X-Request-Id": "abc-123"]) == "abc-123")
        let quoted = HandshakePlanner.requestID(from: ["X-Request-Id": "a\"b"])
        #expect(quoted != "a\"b" && quoted.utf8.count == 32)
        let long = String(repeating: "x", count: 129)
        #expect(HandshakePlanner.requestID(from: ["X-Request-Id": long]) != long)
    }
}
