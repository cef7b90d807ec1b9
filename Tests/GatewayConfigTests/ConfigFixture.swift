import Foundation
import GatewayConfig
import GatewayHandshake
import Testing

/// A scratch directory for one test's config and key files; removed on deinit.
final class ConfigFixture {
    /// The directory.
    let directory: String

    /// An HMAC secret long enough for HS512.
    static let secret = "s3cr3t-value-that-is-long-enough-for-hs512-0123456789abcdef0123456"
    /// The environment the fixture's loads see.
    static let environment = ["WSGATE_HS_SECRET": secret, "WSGATE_DEMO_SECRET": secret]

    /// Creates an empty scratch directory.
    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsgate-config-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes a file relative to the directory; returns its absolute path.
    @discardableResult
    func write(_ relativePath: String, _ contents: String) -> String {
        let path = (directory as NSString).appendingPathComponent(relativePath)
        try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Loads YAML with this directory as the base.
    func load(_ yaml: String, environment: [String: String] = ConfigFixture.environment) throws(ConfigurationProblems) -> GatewayConfiguration {
        try ConfigurationLoader.load(yaml: yaml, baseDirectory: directory, environment: environment)
    }

    /// The problems loading YAML reports; records an issue when it loads.
    func problems(_ yaml: String, environment: [String: String] = ConfigFixture.environment,
                  sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigurationProblem] {
        do {
            _ = try load(yaml, environment: environment)
            Issue.record("expected problems, but the config loaded", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.problems
        }
    }

    /// The repository's `config/` directory.
    static let repositoryConfigDirectory: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("config/demo.yaml").path
            if FileManager.default.fileExists(atPath: candidate) { return url.appendingPathComponent("config").path }
        }
        return "config"
    }()
}

/// A config that loads without keys: one listener and one open route, with `extra` appended.
func minimalYAML(route: String = "", _ extra: String = "") -> String {
    """
    listen:
      - address: 127.0.0.1:8080
    routes:
      - path: /ws
        upstream: ws://127.0.0.1:9001/
        auth: none
    \(route)
    \(extra)
    """
}

/// The one problem in a list, or an issue.
func single(_ problems: [ConfigurationProblem], sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationProblem? {
    #expect(problems.count == 1, "\(problems.map(\.description))", sourceLocation: sourceLocation)
    return problems.first
}

/// Lines 1–5: a listener and a route; `keys:` is line 6 and a case's key entries start at line 7.
let keysHead = """
    listen:
      - address: 127.0.0.1:8080
    routes:
      - path: /ws
        upstream: ws://127.0.0.1:9001/
    keys:

    """
