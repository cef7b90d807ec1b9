import GatewayConfig
import GatewayServer

/// The YAML configuration reader (`ConfigurationLoader.load(yaml:)`) on arbitrary text: never a
/// crash; a loaded config builds a snapshot; and no problem message quotes the HMAC secret,
/// which the config names only by its environment variable.
///
/// Inputs that could name a device or process file (`/dev/zero` would be read forever) are
/// skipped: key files are read whole by design, and the check must not hang or read the
/// machine's files. YAML escapes (`\`) are skipped for the same reason: they could spell those
/// paths. Relative paths resolve under a directory that does not exist.
enum ConfigCheck {
    /// Substrings whose inputs are skipped (see above).
    static let avoided = ["dev/", "proc/", "sys/", "run/", "\\", "url"]

    /// True when the config loads.
    static func accepts(_ input: [UInt8]) -> Bool {
        guard let text = String(validating: input, as: UTF8.self) else { return false }
        return (try? ConfigurationLoader.load(yaml: text, baseDirectory: "/nonexistent-wsgate-fuzz", environment: FuzzKeys.environment)) != nil
    }

    /// Loads the config; checks the problems never quote the secret.
    static func check(_ input: [UInt8]) -> FuzzFailure? {
        guard let text = String(validating: input, as: UTF8.self) else { return nil }
        if avoided.contains(where: { text.contains($0) }) { return nil }
        let secret = FuzzKeys.environment["WSGATE_FUZZ_SECRET"]!
        do {
            let configuration = try ConfigurationLoader.load(yaml: text, baseDirectory: "/nonexistent-wsgate-fuzz", environment: FuzzKeys.environment)
            _ = GatewaySnapshot(configuration: configuration)
        } catch {
            for problem in error.problems where problem.description.contains(secret) {
                return FuzzFailure("a configuration problem quotes the HMAC secret at \(problem.path)")
            }
        }
        return nil
    }
}
