import Foundation
import GatewayAuth
import GatewayHandshake
import Yams

/// Turns a YAML config file into a validated `GatewayConfiguration`, loading every key on the
/// way, or reports every problem it finds.
///
/// ```swift
/// do {
///     let config = try ConfigurationLoader.load(path: "config/wsgate.yaml")
/// } catch {
///     for problem in error.problems { print(problem) }  // routes[1].upstream (line 14): …
/// }
/// ```
public enum ConfigurationLoader {
    /// Top-level keys of the config.
    static let topLevelKeys = [
        "listen", "admin", "keys", "auth", "routes", "rejection_log", "limits", "trusted_proxies", "state_dir", "revocation",
        "cluster",
    ]

    /// Where a single instance keeps its revocations when `state_dir` is not given.
    public static let defaultStateDirectory = "/var/lib/wsgate"

    /// Loads the config file at `path`; relative file paths inside it resolve against its directory.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationProblems) -> GatewayConfiguration {
        let absolute = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        let bytes: [UInt8]
        do throws(KeyError) {
            bytes = try KeyMaterialReader.contents(ofFile: absolute)
        } catch {
            throw ConfigurationProblems([ConfigurationProblem(path: "", line: nil, message: "cannot read config file: \(error.description)")])
        }
        guard let yaml = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationProblems([ConfigurationProblem(path: "", line: nil, message: "config file \(path) is not UTF-8 text")])
        }
        return try load(yaml: yaml, baseDirectory: (absolute as NSString).deletingLastPathComponent, environment: environment)
    }

    /// Loads a config from YAML text; relative file paths resolve against `baseDirectory`.
    public static func load(
        yaml: String,
        baseDirectory: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationProblems) -> GatewayConfiguration {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ConfigurationProblems([ConfigurationProblem(path: "", line: nil, message: "the config is empty")])
            }
            root = node
        } catch let error as ConfigurationProblems {
            throw error
        } catch {
            throw ConfigurationProblems([syntaxProblem(error)])
        }

        let reader = ConfigurationReader(baseDirectory: baseDirectory, environment: environment)
        let document = ConfigNode(path: "", node: root)
        guard let top = reader.mapping(document, allowed: topLevelKeys) else {
            throw ConfigurationProblems(reader.problems)
        }

        let listeners = reader.listeners(top["listen"])
        let admin = reader.admin(top["admin"])
        let configuredKeys = reader.keys(top["keys"])
        let keys = configuredKeys.keys
        let auth = reader.authSettings(top["auth"])
        let routes = reader.routes(top["routes"])
        let rejectionLog = reader.rejectionLog(top["rejection_log"])
        let limits = reader.limits(top["limits"])
        let trustedProxies = reader.trustedProxies(top["trusted_proxies"])
        let stateDirectory = top["state_dir"].flatMap(reader.nonEmptyString).map(reader.resolve) ?? defaultStateDirectory
        let revocation = reader.revocationSettings(top["revocation"])
        let cluster = reader.cluster(top["cluster"])

        // Whole-config checks, made only where the parts they compare were readable.
        let problemsInParts = reader.problems.count
        if top["listen"] == nil || (problemsInParts == 0 && listeners.isEmpty) {
            reader.report(path: "listen", line: top["listen"]?.line, "at least one listener is required, e.g. listen: [{address: 0.0.0.0:8080}]")
        }
        if top["routes"] == nil || (problemsInParts == 0 && routes.isEmpty) {
            reader.report(path: "routes", line: top["routes"]?.line, "at least one route is required")
        }
        let keyEntriesGiven = top["keys"].map { if case .sequence(let s) = $0.node { !s.isEmpty } else { true } } ?? false
        if keys.isEmpty && !keyEntriesGiven {
            for (route, node) in routes where route.auth != .none {
                reader.report(path: ConfigurationReader.join(node.path, "auth"), line: node.line,
                              "route \(route.pattern) verifies tokens (auth: \(route.auth.rawValue)) but no keys are configured")
            }
        }
        if let admin, let (_, node) = listeners.first(where: { $0.0.endpoint == admin.endpoint }) {
            reader.report(path: "admin.address", line: top["admin"]?.line, "\(admin.endpoint) is also \(node.path).address")
        }
        if auth.maxTokenBytes > limits.maxHeaderBytes {
            reader.report(path: "auth.max_token_bytes", line: top["auth"]?.line,
                          "\(ByteSize(bytes: auth.maxTokenBytes)) does not fit in limits.max_header_bytes (\(ByteSize(bytes: limits.maxHeaderBytes)))")
        }

        guard reader.problems.isEmpty else {
            throw ConfigurationProblems(sorted(reader.problems))
        }
        var configuration = GatewayConfiguration(
            listeners: listeners.map(\.0),
            admin: admin,
            keys: KeySet(keys),
            auth: auth,
            routes: routes.map(\.0),
            rejectionLog: rejectionLog,
            limits: limits,
            trustedProxies: trustedProxies
        )
        configuration.remoteKeySets = configuredKeys.remoteKeySets
        configuration.stateDirectory = stateDirectory
        configuration.revocation = revocation
        configuration.cluster = cluster
        return configuration
    }

    /// Problems by line, those without a line last; equal lines keep the order found.
    static func sorted(_ problems: [ConfigurationProblem]) -> [ConfigurationProblem] {
        problems.enumerated().sorted { a, b in
            switch (a.element.line, b.element.line) {
            case let (x?, y?) where x != y: x < y
            case (.some, nil): true
            case (nil, .some): false
            default: a.offset < b.offset
            }
        }.map(\.element)
    }

    /// A YAML syntax error as one problem line.
    static func syntaxProblem(_ error: any Error) -> ConfigurationProblem {
        guard let yamlError = error as? YamlError else {
            return ConfigurationProblem(path: "", line: nil, message: "YAML error: \(error)")
        }
        switch yamlError {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let during = context.map { "\($0.text) (line \($0.mark.line)), " } ?? ""
            return ConfigurationProblem(path: "", line: mark.line, message: "YAML syntax error: \(during)\(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            return ConfigurationProblem(path: "", line: context.mark.line, message: "duplicate key \(keys) in one mapping")
        case let .reader(problem, _, _, _):
            return ConfigurationProblem(path: "", line: nil, message: "YAML error: \(problem)")
        default:
            return ConfigurationProblem(path: "", line: nil, message: "YAML error: \(yamlError)")
        }
    }
}

extension GatewayConfiguration {
    /// One line for `wsgate check`: `N routes, M keys, listeners A, B, admin C`.
    public var summary: String {
        var parts = [
            "\(routes.count) route\(routes.count == 1 ? "" : "s")",
            "\(keys.keys.count) key\(keys.keys.count == 1 ? "" : "s")"
                + (remoteKeySets.isEmpty ? "" : " and \(remoteKeySets.count) remote key set\(remoteKeySets.count == 1 ? "" : "s") (fetched at start: "
                    + remoteKeySets.map(\.url).joined(separator: ", ") + ")"),
            "listeners " + listeners.map { "\($0.endpoint)\($0.tls != nil ? " (tls)" : "")" }.joined(separator: ", "),
        ]
        if let admin { parts.append("admin \(admin.endpoint)") }
        if let cluster { parts.append("cluster \(cluster.postgres) as \(cluster.instance ?? "host:port")") }
        return parts.joined(separator: ", ")
    }
}

extension GatewayConfiguration {
    /// Lines for `wsgate check` about keys that share an algorithm: a token without `kid` is
    /// checked against the first of them only (or, with `auth.try_all_keys`, against each, one
    /// signature check per key for every forged token). Remote (JWKS) keys are not known here.
    public var warnings: [String] {
        // Key names in configuration order: the id, or the position for a key without one.
        var byAlgorithm: [JWTAlgorithm: [String]] = [:]
        for (index, key) in keys.keys.enumerated() {
            let name = key.id.map { "\"\($0)\"" } ?? "keys[\(index)] (no id)"
            for algorithm in key.algorithms { byAlgorithm[algorithm, default: []].append(name) }
        }
        return byAlgorithm.filter { $0.value.count > 1 }.sorted { $0.key.rawValue < $1.key.rawValue }.map { algorithm, names in
            let shared = names
            if auth.tryAllKeys {
                return "\(shared.count) keys allow \(algorithm.rawValue) (\(names.joined(separator: ", "))); with auth.try_all_keys a token without kid is checked against each: \(shared.count) signature checks per forged token"
            }
            return "\(shared.count) keys allow \(algorithm.rawValue) (\(names.joined(separator: ", "))); a token without kid is checked against \(names[0]) only (set auth.try_all_keys: true to try every one)"
        }
    }
}
