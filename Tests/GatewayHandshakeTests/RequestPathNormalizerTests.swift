import Testing

@testable import GatewayHandshake

/// The path policy of `RequestPathNormalizer` (Envoy's normalize_path, merge_slashes, reject
/// escaped slashes), form by form.
@Suite struct RequestPathNormalizerTests {
    @Test(arguments: [
        ("/ws/chat", "/ws/chat"),
        ("/ws/rooms/", "/ws/rooms/"),
        ("/", "/"),
        ("/ws/rooms/../chat", "/ws/chat"),
        ("/ws/rooms/./42", "/ws/rooms/42"),
        ("/ws/rooms/42/..", "/ws/rooms/"),
        ("/ws/rooms/.", "/ws/rooms/"),
        ("/ws//chat", "/ws/chat"),
        ("//ws/chat", "/ws/chat"),
        // Merged before dot segments: `/a//..` is `/`, as a merging backend sees it.
        ("/ws/rooms//../chat", "/ws/chat"),
        // Unreserved escapes decoded (RFC 3986 §6.2.2.2), others upper-cased (§6.2.2.1).
        ("/ws/rooms/%2e%2e/chat", "/ws/chat"),
        ("/ws/rooms/%2E./chat", "/ws/chat"),
        ("/ws/%63hat", "/ws/chat"),
        ("/ws/rooms/a%3fb", "/ws/rooms/a%3Fb"),
        ("/ws/rooms/.hidden", "/ws/rooms/.hidden"),
        ("/ws/rooms/...", "/ws/rooms/..."),
    ])
    func normalises(_ input: String, _ expected: String) {
        #expect(RequestPathNormalizer.normalize(input[...]) == .normalized(expected[...]))
    }

    @Test(arguments: [
        ("/ws/rooms/..%2Fchat", "encoded slash in path"),
        ("/ws/rooms/..%2fchat", "encoded slash in path"),
        ("/ws/rooms/..%5Cchat", "encoded backslash in path"),
        ("/ws/rooms/..\\chat", "backslash in path"),
        ("/ws/rooms/%00", "encoded NUL in path"),
        ("/ws/rooms/\u{0}", "space or control byte in path"),
        ("/ws/rooms/%2", "broken percent-encoding in path"),
        ("/ws/rooms/%zz", "broken percent-encoding in path"),
        ("/ws/rooms/a#b", "fragment in request target"),
        ("/..", "path climbs above the root"),
        ("/ws/../../chat", "path climbs above the root"),
        ("/%2e%2e/ws/chat", "path climbs above the root"),
    ])
    func refuses(_ input: String, _ why: String) {
        #expect(RequestPathNormalizer.normalize(input[...]) == .refused(why))
    }

    /// The exact edge of climbing: as many `..` as segments is the root, one more is refused.
    @Test func climbingExactlyToTheRootIsAllowed() {
        #expect(RequestPathNormalizer.normalize("/a/b/../..") == .normalized("/"))
        #expect(RequestPathNormalizer.normalize("/a/b/../../..") == .refused("path climbs above the root"))
    }
}
