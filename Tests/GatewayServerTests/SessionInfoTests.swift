import GatewayAuth
@testable import GatewayServer
import Testing

/// `SessionInfo` keeps its request id and token digest packed (16 and 32 bytes) when they are
/// lowercase hex: what comes back is exactly what went in.
@Suite struct SessionInfoDigestTests {
    @Test(arguments: [
        "0123456789abcdef0123456789abcdef",
        "ffffffffffffffffffffffffffffffff",
        "00000000000000000000000000000000",
        // A client's own X-Request-Id: kept as text.
        "req-42",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        tokenDigest("sixty-four digits are a digest's width, also fine as an id"),
    ])
    func idRoundTrips(_ id: String) {
        let info = SessionInfo(id: id, route: "/r", client: "c", openedAt: 0)
        #expect(info.id == id)
        #expect(info == SessionInfo(id: id, route: "/r", client: "c", openedAt: 0))
        #expect(info != SessionInfo(id: id + "0", route: "/r", client: "c", openedAt: 0))
    }

    @Test(arguments: [
        tokenDigest("a.b.c"),
        tokenDigest("another token"),
        String(repeating: "0", count: 64),
        String(repeating: "f", count: 64),
        "0123456789abcdef" + "fedcba9876543210" + "00112233445566778899aabbccddeeff",
        // Not a lowercase SHA-256 in hex: kept as text, unchanged.
        String(repeating: "F", count: 64),
        String(repeating: "a", count: 63),
        String(repeating: "a", count: 65),
        "",
        "not hex at all",
    ])
    func digestRoundTrips(_ digest: String) {
        var info = SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, tokenDigest: digest)
        #expect(info.tokenDigest == digest)
        info.tokenDigest = nil
        #expect(info.tokenDigest == nil)
        info.tokenDigest = digest
        #expect(info.tokenDigest == digest)
        #expect(info == SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, tokenDigest: digest))
    }

    @Test(arguments: [nil, 0, -1, 1_795_628_411, 1_795_628_411.5, Double.greatestFiniteMagnitude] as [Double?])
    func claimTimesRoundTrip(_ time: Double?) {
        var info = SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, issuedAt: time, expiresAt: time)
        #expect(info.issuedAt == time && info.expiresAt == time)
        #expect(info == SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, issuedAt: time, expiresAt: time))
        info.expiresAt = 7
        #expect(info.expiresAt == 7 && info.issuedAt == time)
        info.issuedAt = nil
        #expect(info.issuedAt == nil)
    }

    @Test func differentDigestsAreDifferentSessions() {
        let one = SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, tokenDigest: tokenDigest("one"))
        let two = SessionInfo(id: "s", route: "/r", client: "c", openedAt: 0, tokenDigest: tokenDigest("two"))
        #expect(one != two)
    }
}
