import GatewayAuth
import GatewayHandshake

extension ConfigurationReader {
    /// Reads `listen:`.
    func listeners(_ located: ConfigNode?) -> [(ListenerConfiguration, ConfigNode)] {
        guard let located, let items = sequence(located) else { return [] }
        var out: [(ListenerConfiguration, ConfigNode)] = []
        for item in items {
            guard let entry = mapping(item, allowed: ["address", "tls", "proxy_protocol", "name"]) else { continue }
            let before = problems.count
            var endpoint: SocketEndpoint?
            if let node = entry["address"] {
                endpoint = self.endpoint(node)
            } else {
                report(path: entry.path("address"), line: item.line, "is required (host:port, e.g. 0.0.0.0:8080)")
            }
            var tls: TLSFiles?
            if let node = entry["tls"], let files = mapping(node, allowed: ["certificate_file", "private_key_file"]) {
                var paths: [String] = []
                for key in ["certificate_file", "private_key_file"] {
                    if let file = files[key] {
                        if let path = existingFile(file) { paths.append(path) }
                    } else {
                        report(path: files.path(key), line: node.line, "is required for TLS")
                    }
                }
                if paths.count == 2 { tls = TLSFiles(certificateFile: paths[0], privateKeyFile: paths[1]) }
            }
            let proxyProtocol = entry["proxy_protocol"].flatMap(bool) ?? false
            // systemd allows 1-255 printable ASCII characters except ':' in FileDescriptorName=
            // (the separator of LISTEN_FDNAMES).
            var name: String?
            if let node = entry["name"], let text = nonEmptyString(node) {
                if text.utf8.count <= 255, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) {
                    name = text
                } else {
                    report(node, "a socket name is up to 255 printable ASCII characters without spaces or ':' (systemd's FileDescriptorName=)")
                }
            }
            guard problems.count == before, let endpoint else { continue }
            if let name, let (_, first) = out.first(where: { $0.0.name == name }) {
                report(entry["name"]!, "\"\(name)\" is already the name of \(first.path)")
                continue
            }
            if let (_, first) = out.first(where: { $0.0.endpoint == endpoint }) {
                report(entry["address"]!, "\(endpoint) is already used by \(first.path)")
                continue
            }
            out.append((ListenerConfiguration(endpoint: endpoint, tls: tls, proxyProtocol: proxyProtocol, name: name), item))
        }
        return out
    }

    /// Reads `admin:`. Authentication (SESSIONS.md): `token_file` / `token_env` (a static bearer
    /// token) and/or `require_scopes` (a JWT the gateway's own keys verify); an address that is not
    /// loopback needs one of them, since the admin API can revoke sessions and reload the config.
    func admin(_ located: ConfigNode?) -> AdminConfiguration? {
        let allowed = ["address", "recent_rejections", "token_file", "token_env", "require_scopes", "public_metrics", "allowed_origins"]
        guard let located, let entry = mapping(located, allowed: allowed) else { return nil }
        guard let node = entry["address"] else {
            report(path: entry.path("address"), line: located.line, "is required (host:port, e.g. 127.0.0.1:9090)")
            return nil
        }
        let recent = entry["recent_rejections"].flatMap { integer($0, in: 1...1_000_000) }
        guard let endpoint = endpoint(node) else { return nil }
        var admin = AdminConfiguration(endpoint: endpoint, recentRejections: recent ?? 1000)
        // Origins the dashboard is served from through a proxy that rewrites Host: their
        // state-changing requests pass the same-origin check too. Exact origins only, no "*".
        if let node = entry["allowed_origins"], let origins = strings(node) {
            if origins.isEmpty { report(node, "is empty; leave allowed_origins out to allow same-origin requests only") }
            for (origin, originNode) in origins where !Self.isOrigin(origin) {
                report(originNode, "\"\(origin)\" is not an origin (scheme://host[:port], no path, RFC 6454 §6.2; \"*\" is not allowed here)")
            }
            admin.allowedOrigins = origins.map { $0.0.lowercased() }
        }
        if entry["token_file"] != nil, entry["token_env"] != nil {
            report(path: entry.path("token_env"), line: entry["token_env"]?.line, "give token_file or token_env, not both")
        }
        let bothGiven = entry["token_file"] != nil && entry["token_env"] != nil
        do throws(KeyError) {
            var secret: [UInt8]?
            if bothGiven {
                secret = nil
            } else if let fileNode = entry["token_file"], let path = nonEmptyString(fileNode) {
                secret = try KeyMaterialReader.secret(fromFile: resolve(path))
            } else if let envNode = entry["token_env"], let name = nonEmptyString(envNode) {
                secret = try KeyMaterialReader.secret(fromEnvironment: name, environment: environment)
            }
            if let secret {
                let fieldNode = entry["token_file"] ?? entry["token_env"]!
                guard let text = String(validating: secret, as: UTF8.self),
                      text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                    report(fieldNode, "the admin token must be printable ASCII without spaces (it travels in an Authorization header)")
                    return nil
                }
                guard text.utf8.count >= 16 else {
                    report(fieldNode, "the admin token is \(text.utf8.count) bytes; use at least 16 (e.g. openssl rand -hex 32)")
                    return nil
                }
                admin.bearerToken = text
            }
        } catch {
            report(entry["token_file"] ?? entry["token_env"]!, error.description)
        }
        if let scopesNode = entry["require_scopes"], let scopes = strings(scopesNode) {
            if scopes.isEmpty {
                report(scopesNode, "list at least one scope, e.g. [wsgate.admin]")
            } else {
                admin.requiredScopes = scopes.map(\.0)
            }
        }
        if let metricsNode = entry["public_metrics"], let flag = bool(metricsNode) { admin.publicMetrics = flag }
        let authGiven = entry["token_file"] != nil || entry["token_env"] != nil || entry["require_scopes"] != nil
        if !authGiven, !ConfigurationReader.isLoopback(host: endpoint.host) {
            report(node, "\(endpoint) is not a loopback address: set admin.token_file, admin.token_env or admin.require_scopes, since the admin API can revoke sessions and reload the config")
        }
        return admin
    }

    /// `host:port` or `[v6]:port`; port 0 asks the kernel for a free port.
    func endpoint(_ located: ConfigNode) -> SocketEndpoint? {
        guard let text = nonEmptyString(located) else { return nil }
        let host: Substring
        let portText: Substring
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].first == ":" else {
                report(located, "\"\(text)\" is not [IPv6]:port")
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard CIDRBlock.addressBytes(String(host))?.count == 16 else {
                report(located, "\"\(host)\" is not an IPv6 address")
                return nil
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                report(located, "\"\(text)\" has no port; expected host:port, e.g. 0.0.0.0:8080")
                return nil
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                report(located, "\"\(text)\": an IPv6 address needs brackets, e.g. [::1]:8080")
                return nil
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else {
                report(located, "\"\(text)\" does not start with a host name or IPv4 address")
                return nil
            }
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            report(located, "\"\(portText)\" is not a port (0–65535)")
            return nil
        }
        return SocketEndpoint(host: String(host), port: port)
    }
}
