import Foundation
import GatewayAuth
import GatewayHandshake

extension ConfigurationReader {
    /// Reads `cluster:` (SESSIONS.md "The cluster"): `postgres: {url_env | url_file}`, `instance`,
    /// `poll_interval` (default 1s), `stale_after` (default 0s: off), `admin_url`. The URL holds a
    /// password, so it never sits in the config text: only the variable's or file's name does.
    /// Nothing here connects; `wsgate check --connect` does.
    func cluster(_ located: ConfigNode?) -> ClusterConfiguration? {
        let allowed = ["postgres", "instance", "poll_interval", "stale_after", "admin_url"]
        guard let located, let entry = mapping(located, allowed: allowed) else { return nil }
        guard let postgresNode = entry["postgres"] else {
            report(path: entry.path("postgres"), line: located.line, "is required (postgres: {url_env: WSGATE_POSTGRES_URL} or {url_file: …})")
            return nil
        }
        let url = postgresURL(postgresNode)
        var instance: String?
        if let node = entry["instance"], let name = nonEmptyString(node) {
            if name.utf8.count > 200 || name.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) {
                report(node, "must be at most 200 printable characters without spaces")
            } else {
                instance = name
            }
        }
        var poll = 1.0
        if let node = entry["poll_interval"], let value = duration(node, minimum: ConfigDuration(nanoseconds: 50_000_000)) {
            poll = Double(value.nanoseconds) / 1e9
        }
        var stale = 0.0
        if let node = entry["stale_after"], let value = duration(node, minimum: ConfigDuration(nanoseconds: 0)) {
            stale = Double(value.nanoseconds) / 1e9
        }
        var adminURL: String?
        if let node = entry["admin_url"], let text = nonEmptyString(node) {
            if let parsed = URLComponents(string: text), parsed.scheme == "http" || parsed.scheme == "https", parsed.host?.isEmpty == false,
               parsed.path.isEmpty || parsed.path == "/" {
                adminURL = text.hasSuffix("/") ? String(text.dropLast()) : text
            } else {
                report(node, "must be an http:// or https:// URL without a path, e.g. http://10.0.0.5:9090")
            }
        }
        guard let url else { return nil }
        // A testing knob (bench/): the watermark poll alone carries revocations.
        let listens = environment["WSGATE_CLUSTER_NOTIFY"] != "off"
        return ClusterConfiguration(
            postgres: url, instance: instance, pollIntervalSeconds: poll, staleAfterSeconds: stale, adminURL: adminURL, listens: listens
        )
    }

    private func postgresURL(_ located: ConfigNode) -> PostgresURL? {
        guard let entry = mapping(located, allowed: ["url_env", "url_file", "url"]) else { return nil }
        if let node = entry["url"] {
            report(node, "the URL holds a password: give url_env (a variable's name) or url_file (a file's path) instead")
            return nil
        }
        let fileNode = entry["url_file"]
        let envNode = entry["url_env"]
        if fileNode != nil, let envNode {
            report(envNode, "give url_env or url_file, not both")
            return nil
        }
        let text: [UInt8]
        let field: ConfigNode
        do throws(KeyError) {
            if let fileNode, let path = nonEmptyString(fileNode) {
                field = fileNode
                text = try KeyMaterialReader.secret(fromFile: resolve(path))
            } else if let envNode, let name = nonEmptyString(envNode) {
                field = envNode
                text = try KeyMaterialReader.secret(fromEnvironment: name, environment: environment)
            } else {
                if fileNode == nil, envNode == nil {
                    report(located, "give url_env (e.g. WSGATE_POSTGRES_URL) or url_file")
                }
                return nil
            }
        } catch {
            report(fileNode ?? envNode!, error.description)
            return nil
        }
        guard let string = String(validating: text, as: UTF8.self) else {
            report(field, "the URL is not UTF-8 text")
            return nil
        }
        do throws(PostgresURLError) {
            return try PostgresURL(parsing: string)
        } catch {
            report(field, "the PostgreSQL URL \(error.message)")
            return nil
        }
    }
}
