import GatewayText
import Testing

/// `host:port` written with IPv6 in brackets (RFC 3986 §3.2.2), and the host read back.
@Suite struct HostPortTests {
    @Test("written", arguments: [
        ("127.0.0.1", 8080, "127.0.0.1:8080"), ("::1", 8080, "[::1]:8080"), ("[::1]", 443, "[::1]:443"),
        ("2001:db8::a", 0, "[2001:db8::a]:0"), ("example.com", 443, "example.com:443"),
        ("fe80::1%eth0", 9, "[fe80::1%eth0]:9"),
    ] as [(String, Int, String)])
    func writes(host: String, port: Int, text: String) {
        #expect(HostPort.text(host: host, port: port) == text)
    }

    @Test("host read back", arguments: [
        ("203.0.113.7:53422", "203.0.113.7"), ("[2001:db8::1]:443", "2001:db8::1"), ("2001:db8::1", "2001:db8::1"),
        ("203.0.113.7", "203.0.113.7"), ("[::1]", "::1"), ("[broken", "[broken"), ("host:80", "host"),
    ])
    func reads(text: String, host: String) {
        #expect(HostPort.host(of: text) == Substring(host))
    }
}
