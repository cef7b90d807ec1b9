import GatewayAuth
import GatewayHandshake

extension ConfigurationReader {
    /// Reads `auth:`.
    func authSettings(_ located: ConfigNode?) -> AuthSettings {
        var settings = AuthSettings()
        guard let located, let auth = mapping(located, allowed: ["issuers", "audiences", "leeway", "max_token_bytes", "token_sources", "try_all_keys", "token_cache_size"]) else {
            return settings
        }
        if let node = auth["issuers"], let issuers = strings(node) { settings.issuers = issuers.map(\.0) }
        if let node = auth["audiences"], let audiences = strings(node) { settings.audiences = audiences.map(\.0) }
        if let node = auth["leeway"], let leeway = duration(node, minimum: ConfigDuration(nanoseconds: 0)) {
            if leeway.nanoseconds % 1_000_000_000 != 0 {
                report(node, "must be a whole number of seconds (exp and nbf are whole seconds, RFC 7519 §2)")
            } else {
                settings.leewaySeconds = leeway.nanoseconds / 1_000_000_000
            }
        }
        if let node = auth["max_token_bytes"], let bytes = size(node, minimum: 16) { settings.maxTokenBytes = bytes }
        if let node = auth["token_sources"], let sources = tokenSources(node) { settings.tokenSources = sources }
        if let node = auth["try_all_keys"], let value = bool(node) { settings.tryAllKeys = value }
        if let node = auth["token_cache_size"], let value = integer(node, in: 0...1_000_000) { settings.tokenCacheSize = value }
        return settings
    }

    /// Reads a token source list: `header`, `query` or `query:NAME`, `cookie:NAME`, `subprotocol`.
    func tokenSources(_ located: ConfigNode) -> [TokenSource]? {
        guard let items = strings(located) else { return nil }
        guard !items.isEmpty else {
            report(located, "must list at least one source (header, query:NAME, cookie:NAME, subprotocol)")
            return nil
        }
        var sources: [TokenSource] = []
        var ok = true
        for (spelling, node) in items {
            guard let source = tokenSource(spelling, node) else {
                ok = false
                continue
            }
            if sources.contains(source) {
                report(node, "\"\(spelling)\" is listed twice")
                ok = false
            } else {
                sources.append(source)
            }
        }
        return ok ? sources : nil
    }

    /// One token source spelling.
    private func tokenSource(_ spelling: String, _ node: ConfigNode) -> TokenSource? {
        let parts = spelling.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let kind = String(parts[0])
        let name = parts.count > 1 ? String(parts[1]) : nil
        switch (kind, name) {
        case ("header", nil): return .header
        case ("subprotocol", nil): return .subprotocol
        case ("query", nil): return .query(name: "access_token")
        case ("query", let name?):
            guard Self.isToken(name) else {
                report(node, "\"\(name)\" is not a valid query parameter name")
                return nil
            }
            return .query(name: name)
        case ("cookie", let name?):
            guard Self.isToken(name) else {
                report(node, "\"\(name)\" is not a valid cookie name (RFC 6265 §4.1.1)")
                return nil
            }
            return .cookie(name: name)
        case ("cookie", nil):
            report(node, "a cookie source needs a name: cookie:NAME")
            return nil
        default:
            report(node, "unknown token source \"\(spelling)\"; expected header, query:NAME, cookie:NAME or subprotocol")
            return nil
        }
    }

    /// Whether `text` is an RFC 9110 §5.6.2 token (header names, cookie names).
    static func isToken(_ text: String) -> Bool { HTTPToken.isValid(text) }
}
