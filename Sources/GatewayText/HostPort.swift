/// `host:port` text, the one spelling for listeners, clients and peers: an IPv6 address in
/// brackets (RFC 3986 §3.2.2), so its own colons do not read as the port's.
public enum HostPort {
    /// `127.0.0.1:8080`, `[::1]:8080`, `example.com:443`; an address already in brackets is kept.
    public static func text(host: String, port: Int) -> String {
        "\(bracketed(host)):\(port)"
    }

    /// The host as it stands before `:port` or in a URL: IPv6 in brackets, the rest unchanged.
    public static func bracketed(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }

    /// The address part of `ip:port` or `[v6]:port`; the text itself when it has no port (a bare
    /// IPv6 address has several colons and no port).
    public static func host(of text: String) -> Substring {
        let text = Substring(text)
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return text }
            return text[text.index(after: text.startIndex)..<close]
        }
        guard let colon = text.firstIndex(of: ":") else { return text }
        if text[text.index(after: colon)...].contains(where: { $0 == ":" }) { return text }
        return text[..<colon]
    }
}
