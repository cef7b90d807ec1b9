import Foundation
import GatewayAuth
import GatewayHandshake
import Yams

/// What `keys:` holds: keys loaded now, and key sets to fetch over HTTP(S).
struct ConfiguredKeys {
    /// Keys loaded from secrets, PEM files and JWKS files.
    var keys: [VerificationKey] = []
    /// `jwks_url` entries, fetched at start-up and refreshed while running.
    var remoteKeySets: [RemoteKeySetConfiguration] = []
}

extension ConfigurationReader {
    /// Keys a key entry may have.
    static let keyEntryKeys = ["id", "algorithms", "secret_env", "secret_file", "public_key_file", "jwks_file", "jwks_url"]
        + remoteKeySetKeys
    /// Keys that only a `jwks_url` entry takes.
    static let remoteKeySetKeys = ["refresh_interval", "min_refresh_interval", "max_refresh_interval", "cache_file", "tls_ca_file",
                                   "allow_insecure_http"]
    /// The keys that say where a key comes from; an entry takes exactly one.
    static let keySourceKeys = ["secret_env", "secret_file", "public_key_file", "jwks_file", "jwks_url"]
    /// Algorithms an HMAC secret can verify.
    static let hmacAlgorithms: Set<JWTAlgorithm> = [.hs256, .hs384, .hs512]

    /// Reads and loads `keys:`; every local key is parsed here, once, and kids are checked for
    /// uniqueness. `jwks_url` entries are checked and returned for fetching (their kids are only
    /// known once fetched).
    func keys(_ located: ConfigNode?) -> ConfiguredKeys {
        guard let located, let items = sequence(located) else { return ConfiguredKeys() }
        var configured = ConfiguredKeys()
        var kidOwners: [String: String] = [:]
        var urlOwners: [String: String] = [:]
        for item in items {
            let before = problems.count
            if let urlNode = Self.jwksURLNode(item) {
                guard let set = remoteKeySet(item), problems.count == before else { continue }
                if let owner = urlOwners[set.url] {
                    report(urlNode, "\(set.url) is already \(owner); list each jwks_url once")
                    continue
                }
                urlOwners[set.url] = urlNode.path
                configured.remoteKeySets.append(set)
                continue
            }
            let keys = key(item)
            guard problems.count == before else { continue }
            for key in keys {
                guard let kid = key.id else { continue }
                if let owner = kidOwners[kid] {
                    let idNode = mapping(item, allowed: nil)?["id"] ?? item
                    report(idNode, "kid \"\(kid)\" is already used by \(owner); a kid must be unique across all keys")
                } else {
                    kidOwners[kid] = item.path
                }
            }
            configured.keys += keys
        }
        return configured
    }

    /// The non-null `jwks_url` value of an entry, found without reporting anything (the entry is
    /// checked by whichever reader takes it).
    private static func jwksURLNode(_ item: ConfigNode) -> ConfigNode? {
        guard case .mapping(let mapping) = item.node else { return nil }
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode, scalar.string == "jwks_url" else { continue }
            let value = ConfigNode(path: join(item.path, "jwks_url"), node: valueNode)
            return value.isNull ? nil : value
        }
        return nil
    }

    /// A `jwks_url` entry: the URL (https://, or http:// for a loopback host or with
    /// `allow_insecure_http: true`), its refresh bounds, algorithms, cache and CA files.
    private func remoteKeySet(_ item: ConfigNode) -> RemoteKeySetConfiguration? {
        guard let entry = mapping(item, allowed: Self.keyEntryKeys) else { return nil }
        let sources = Self.keySourceKeys.filter { entry.has($0) }
        guard sources.count == 1 else {
            report(item, "a key takes exactly one of \(sources.joined(separator: ", ")); split them into separate entries")
            return nil
        }
        let before = problems.count
        if let idNode = entry["id"] {
            report(idNode, "id does not apply to jwks_url; the kids come from the fetched document")
        }
        let algorithms = entry["algorithms"].flatMap(algorithmSet)
        let insecure = entry["allow_insecure_http"].flatMap(bool) ?? false
        let urlNode = entry["jwks_url"]!
        let url = nonEmptyString(urlNode).flatMap { checkedJWKSURL($0, at: urlNode, allowInsecureHTTP: insecure) }

        let defaults = RemoteKeySetConfiguration(url: "")
        let refresh = entry["refresh_interval"].flatMap { duration($0) }
        let minimum = entry["min_refresh_interval"].flatMap { duration($0) }
        let maximum = entry["max_refresh_interval"].flatMap { duration($0) }
        var set = RemoteKeySetConfiguration(url: url ?? "", algorithms: algorithms)
        if let refresh { set.refreshInterval = .nanoseconds(refresh.nanoseconds) }
        // Unset bounds widen to fit a given interval; given ones must hold it.
        set.minimumRefreshInterval = minimum.map { .nanoseconds($0.nanoseconds) }
            ?? min(defaults.minimumRefreshInterval, set.refreshInterval)
        set.maximumRefreshInterval = maximum.map { .nanoseconds($0.nanoseconds) }
            ?? max(defaults.maximumRefreshInterval, set.refreshInterval)
        if let minimum, let maximum, minimum.nanoseconds > maximum.nanoseconds {
            report(entry["min_refresh_interval"]!, "\(minimum) is more than max_refresh_interval (\(maximum))")
        } else if let node = entry["refresh_interval"], refresh != nil,
                  set.refreshInterval < set.minimumRefreshInterval || set.refreshInterval > set.maximumRefreshInterval {
            report(node, "must be between min_refresh_interval (\(ConfigDuration(nanoseconds: set.minimumRefreshInterval.nanoseconds))) and max_refresh_interval (\(ConfigDuration(nanoseconds: set.maximumRefreshInterval.nanoseconds)))")
        }

        if let node = entry["cache_file"], let spelling = nonEmptyString(node) {
            let path = resolve(spelling)
            let directory = (path as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue {
                set.cacheFile = path
            } else {
                report(node, "the directory of \(Self.describe(spelling, resolved: path)) does not exist")
            }
        }
        if let node = entry["tls_ca_file"] {
            if let url, !url.lowercased().hasPrefix("https://") {
                report(node, "tls_ca_file only applies to an https:// jwks_url")
            } else {
                set.caFile = existingFile(node)
            }
        }
        guard problems.count == before, url != nil else { return nil }
        return set
    }

    /// A JWKS URL that may be fetched: https://, or http:// only where nobody can tamper with it
    /// on the way (a loopback host) or where the operator says so. Keys fetched over plain HTTP
    /// from elsewhere could be replaced by anyone on the path, who could then mint any token.
    private func checkedJWKSURL(_ text: String, at node: ConfigNode, allowInsecureHTTP: Bool) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            report(node, "\"\(text)\" is not an absolute https:// URL")
            return nil
        }
        switch scheme {
        case "https":
            return text
        case "http":
            let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            if Self.isLoopback(host: bare) || allowInsecureHTTP { return text }
            report(node, "http:// is only for loopback hosts: keys fetched in the clear can be replaced on the way; use https:// (or set allow_insecure_http: true)")
            return nil
        default:
            report(node, "\"\(text)\" is not an https:// URL")
            return nil
        }
    }

    /// localhost, 127.0.0.0/8 or ::1.
    static func isLoopback(host: String) -> Bool {
        let lower = host.lowercased()
        if lower == "localhost" || lower == "::1" || lower == "0:0:0:0:0:0:0:1" { return true }
        let octets = lower.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// One key entry: checks its shape and loads the key (or, for a JWKS, every key in it).
    private func key(_ item: ConfigNode) -> [VerificationKey] {
        guard let entry = mapping(item, allowed: Self.keyEntryKeys) else { return [] }
        let sources = Self.keySourceKeys.filter { entry.has($0) }
        let before = problems.count
        let id = entry["id"].flatMap(nonEmptyString)
        let algorithms = entry["algorithms"].flatMap(algorithmSet)

        for name in Self.remoteKeySetKeys {
            if let node = entry[name] { report(node, "\(name) only applies to jwks_url") }
        }
        guard sources.count == 1, let source = sources.first else {
            if sources.isEmpty {
                report(item, "a key needs one of secret_env, secret_file, public_key_file, jwks_file or jwks_url")
            } else {
                report(item, "a key takes exactly one of \(sources.joined(separator: ", ")); split them into separate entries")
            }
            return []
        }
        let sourceNode = entry[source]!

        switch source {
        case "secret_env", "secret_file":
            requireAlgorithms(algorithms, entry, kind: "an HMAC secret", allowed: Self.hmacAlgorithms,
                              otherwise: "needs public_key_file or jwks_file")
        case "public_key_file":
            requireAlgorithms(algorithms, entry, kind: "a public key", allowed: Set(JWTAlgorithm.allCases).subtracting(Self.hmacAlgorithms),
                              otherwise: "needs a shared secret (secret_env or secret_file), never a public key")
        default:  // jwks_file
            if let id, let idNode = entry["id"] {
                report(idNode, "id \"\(id)\" does not apply to jwks_file; the kids come from the document")
            }
        }
        guard problems.count == before else { return [] }

        switch source {
        case "secret_env":
            guard let name = nonEmptyString(sourceNode) else { return [] }
            do throws(KeyError) {
                let secret = try KeyMaterialReader.secret(fromEnvironment: name, environment: environment)
                return [try hmacKey(secret: secret, id: id, algorithms: algorithms ?? [], at: item)]
            } catch {
                report(sourceNode, error.description)
            }
        case "secret_file":
            guard let spelling = nonEmptyString(sourceNode) else { return [] }
            let path = resolve(spelling)
            do throws(KeyError) {
                let secret = try KeyMaterialReader.secret(fromFile: path)
                return [try hmacKey(secret: secret, id: id, algorithms: algorithms ?? [], at: item)]
            } catch {
                report(sourceNode, error.description)
            }
        case "public_key_file":
            guard let path = existingFile(sourceNode) else { return [] }
            do throws(KeyError) {
                let pem = try KeyMaterialReader.contents(ofFile: path)
                return [try VerificationKey.publicKey(pem: pem, id: id, algorithms: algorithms ?? [])]
            } catch {
                report(sourceNode, error.description)
            }
        default:  // jwks_file
            guard let path = existingFile(sourceNode) else { return [] }
            do throws(KeyError) {
                let json = try KeyMaterialReader.contents(ofFile: path)
                let keys = try VerificationKey.jwks(json: json, allowed: algorithms)
                if keys.isEmpty { report(sourceNode, "the JWKS document holds no usable key") }
                return keys
            } catch {
                report(sourceNode, error.description)
            }
        }
        return []
    }

    /// Builds an HMAC key; the secret never reaches a message, even if the key API quoted it.
    private func hmacKey(secret: [UInt8], id: String?, algorithms: Set<JWTAlgorithm>, at item: ConfigNode) throws(KeyError) -> VerificationKey {
        do throws(KeyError) {
            return try VerificationKey.hmac(secret: secret, id: id, algorithms: algorithms)
        } catch {
            throw KeyError(Self.redacting(secret, in: error.description))
        }
    }

    /// `message` with any occurrence of the secret replaced.
    static func redacting(_ secret: [UInt8], in message: String) -> String {
        guard secret.count >= 4, let text = String(bytes: secret, encoding: .utf8) else { return message }
        return message.replacingOccurrences(of: text, with: "<redacted>")
    }

    /// Reports a missing `algorithms` or one the key kind cannot verify.
    private func requireAlgorithms(_ algorithms: Set<JWTAlgorithm>?, _ entry: ConfigMapping, kind: String,
                                   allowed: Set<JWTAlgorithm>, otherwise: String) {
        guard entry.has("algorithms") else {
            let example = allowed.contains(.hs256) ? "[HS256]" : "[RS256]"
            report(path: entry.path("algorithms"), line: entry.located.line, "is required for \(kind), e.g. algorithms: \(example)")
            return
        }
        guard let algorithms else { return }  // already reported
        let wrong = algorithms.subtracting(allowed).sorted { $0.rawValue < $1.rawValue }
        if !wrong.isEmpty {
            let names = wrong.map(\.rawValue).joined(separator: ", ")
            report(entry["algorithms"]!, "\(kind) cannot verify \(names); \(names) \(otherwise)")
        }
    }

    /// A list of algorithm names; `none` and unknown names are reported.
    func algorithmSet(_ located: ConfigNode) -> Set<JWTAlgorithm>? {
        guard let names = strings(located) else { return nil }
        guard !names.isEmpty else {
            report(located, "must list at least one algorithm")
            return nil
        }
        var set: Set<JWTAlgorithm> = []
        var ok = true
        for (name, node) in names {
            if let algorithm = JWTAlgorithm(rawValue: name) {
                set.insert(algorithm)
                continue
            }
            ok = false
            if name.lowercased() == "none" {
                report(node, "\"\(name)\" is never accepted: unsigned tokens are refused (RFC 8725 §3.1)")
            } else if let match = JWTAlgorithm.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) {
                report(node, "unknown algorithm \"\(name)\"; did you mean \"\(match.rawValue)\"?")
            } else {
                report(node, "unknown algorithm \"\(name)\"; known: \(JWTAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        return ok ? set : nil
    }
}
