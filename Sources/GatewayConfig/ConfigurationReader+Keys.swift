import GatewayAuth
import Yams

extension ConfigurationReader {
    /// Keys a key entry may have.
    static let keyEntryKeys = ["id", "algorithms", "secret_env", "secret_file", "public_key_file", "jwks_file", "jwks_url", "refresh_interval"]
    /// The keys that say where a key comes from; an entry takes exactly one.
    static let keySourceKeys = ["secret_env", "secret_file", "public_key_file", "jwks_file", "jwks_url"]
    /// Algorithms an HMAC secret can verify.
    static let hmacAlgorithms: Set<JWTAlgorithm> = [.hs256, .hs384, .hs512]

    /// Reads and loads `keys:`; every key is parsed here, once, and kids are checked for uniqueness.
    func keys(_ located: ConfigNode?) -> [VerificationKey] {
        guard let located, let items = sequence(located) else { return [] }
        var loaded: [VerificationKey] = []
        var kidOwners: [String: String] = [:]
        for item in items {
            let before = problems.count
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
            loaded += keys
        }
        return loaded
    }

    /// One key entry: checks its shape and loads the key (or, for a JWKS, every key in it).
    private func key(_ item: ConfigNode) -> [VerificationKey] {
        guard let entry = mapping(item, allowed: Self.keyEntryKeys) else { return [] }
        let sources = Self.keySourceKeys.filter { entry.has($0) }
        let before = problems.count
        let id = entry["id"].flatMap(nonEmptyString)
        let algorithms = entry["algorithms"].flatMap(algorithmSet)

        if let interval = entry["refresh_interval"] {
            if entry.has("jwks_url") {
                _ = duration(interval)
            } else {
                report(interval, "refresh_interval only applies to jwks_url")
            }
        }
        guard sources.count == 1, let source = sources.first else {
            if sources.isEmpty {
                report(item, "a key needs one of secret_env, secret_file, public_key_file or jwks_file")
            } else {
                report(item, "a key takes exactly one of \(sources.joined(separator: ", ")); split them into separate entries")
            }
            return []
        }
        let sourceNode = entry[source]!

        switch source {
        case "jwks_url":
            report(sourceNode, "jwks_url is not supported yet; download the document and use jwks_file")
            return []
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
