import Foundation
import Yams

/// A YAML node together with the key path that leads to it.
struct ConfigNode {
    /// Dotted key path with list indices.
    var path: String
    /// The node.
    var node: Node

    /// 1-based line of the node.
    var line: Int? { node.mark?.line }

    /// Whether the node is YAML null (`~`, `null`, or nothing after the colon).
    var isNull: Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain, node.tag.rawValue == Tag.Name.null.rawValue {
            return true
        }
        return false
    }

    /// How the node reads in a message: `a list`, `a mapping`, `"text"`, `42`.
    var summary: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull { return "null" }
            if scalar.style == .plain && node.tag.rawValue != Tag.Name.str.rawValue { return scalar.string }
            return "\"\(scalar.string)\""
        }
    }
}

/// A YAML mapping whose keys have been checked against the allowed set.
struct ConfigMapping {
    /// The mapping's own key path and node.
    var located: ConfigNode
    /// Entries in document order; null values are kept (see `subscript`).
    var entries: [(key: String, keyNode: Node, value: ConfigNode)]

    /// The value at `key`, nil when absent or null (null reads as "not given").
    subscript(key: String) -> ConfigNode? {
        guard let entry = entries.first(where: { $0.key == key }), !entry.value.isNull else { return nil }
        return entry.value
    }

    /// Whether the key is present with a non-null value.
    func has(_ key: String) -> Bool { self[key] != nil }

    /// The key path of a key in this mapping, present or not.
    func path(_ key: String) -> String { ConfigurationReader.join(located.path, key) }
}

/// Walks the composed YAML, reads typed values and collects every problem instead of stopping
/// at the first.
///
/// Used by one load on one thread; not shared.
final class ConfigurationReader {
    /// Directory that relative file paths resolve against.
    let baseDirectory: String
    /// Environment for `secret_env`.
    let environment: [String: String]
    /// Problems found so far.
    private(set) var problems: [ConfigurationProblem] = []

    /// Creates a reader.
    init(baseDirectory: String, environment: [String: String]) {
        self.baseDirectory = baseDirectory
        self.environment = environment
    }

    // MARK: Problems

    /// Records a problem at a node.
    func report(_ located: ConfigNode, _ message: String) {
        report(path: located.path, line: located.line, message)
    }

    /// Records a problem at a path and line.
    func report(path: String, line: Int?, _ message: String) {
        problems.append(ConfigurationProblem(path: path, line: line, message: message))
    }

    // MARK: Paths

    /// `parent.key`, or `key` at the root; keys that are not plain identifiers are bracketed
    /// and quoted (`claims_to_headers["org.id"]`) so the path stays unambiguous.
    static func join(_ parent: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
        if !plain { return "\(parent)[\"\(key)\"]" }
        return parent.isEmpty ? key : "\(parent).\(key)"
    }

    /// Resolves a config-relative file path against the config file's directory.
    func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return (baseDirectory as NSString).appendingPathComponent(path)
    }

    // MARK: Structure

    /// Reads a mapping, reporting a wrong type, non-string keys and keys not in `allowed`.
    func mapping(_ located: ConfigNode, allowed: [String]?) -> ConfigMapping? {
        guard case .mapping(let mapping) = located.node else {
            report(located, "expected a mapping, got \(located.summary)")
            return nil
        }
        var entries: [(key: String, keyNode: Node, value: ConfigNode)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report(path: located.path, line: keyNode.mark?.line, "keys must be strings, got \(ConfigNode(path: "", node: keyNode).summary)")
                continue
            }
            let key = scalar.string
            let path = Self.join(located.path, key)
            if let allowed, !allowed.contains(key) {
                var message = "unknown key \"\(key)\""
                if let suggestion = Self.closest(to: key, in: allowed) {
                    message += "; did you mean \"\(suggestion)\"?"
                } else if allowed.contains("secret_env"), ["secret", "key", "value", "password"].contains(key.lowercased()) {
                    message += "; secrets never go in the config file: use secret_env or secret_file"
                }
                report(path: path, line: keyNode.mark?.line, message)
                continue
            }
            entries.append((key, keyNode, ConfigNode(path: path, node: valueNode)))
        }
        return ConfigMapping(located: located, entries: entries)
    }

    /// The items of a list with their paths; a wrong type is reported.
    func sequence(_ located: ConfigNode) -> [ConfigNode]? {
        guard case .sequence(let sequence) = located.node else {
            report(located, "expected a list, got \(located.summary)")
            return nil
        }
        return sequence.enumerated().map { ConfigNode(path: "\(located.path)[\($0.offset)]", node: $0.element) }
    }

    /// A list, or a single scalar standing for a one-element list (`upstream: ws://…`).
    func sequenceOrScalar(_ located: ConfigNode) -> [ConfigNode]? {
        if case .scalar = located.node { return [located] }
        return sequence(located)
    }

    // MARK: Scalars

    /// Any non-null scalar's text; lists and mappings are reported.
    func string(_ located: ConfigNode) -> String? {
        guard case .scalar(let scalar) = located.node, !located.isNull else {
            report(located, "expected a string, got \(located.summary)")
            return nil
        }
        return scalar.string
    }

    /// A non-empty string.
    func nonEmptyString(_ located: ConfigNode) -> String? {
        guard let text = string(located) else { return nil }
        guard !text.trimmingWhitespace().isEmpty else {
            report(located, "must not be empty")
            return nil
        }
        return text
    }

    /// A list of strings, or one string.
    func strings(_ located: ConfigNode) -> [(String, ConfigNode)]? {
        guard let items = sequenceOrScalar(located) else { return nil }
        var out: [(String, ConfigNode)] = []
        var ok = true
        for item in items {
            if let text = nonEmptyString(item) { out.append((text, item)) } else { ok = false }
        }
        return ok ? out : nil
    }

    /// `true` or `false` (YAML 1.1 spellings such as `yes` are accepted, quoted strings are not).
    func bool(_ located: ConfigNode) -> Bool? {
        if case .scalar(let scalar) = located.node, scalar.style == .plain, let value = located.node.bool,
           located.node.tag.rawValue == Tag.Name.bool.rawValue {
            return value
        }
        report(located, "expected true or false, got \(located.summary)")
        return nil
    }

    /// An integer within `range`.
    func integer(_ located: ConfigNode, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = located.node, scalar.style == .plain,
              located.node.tag.rawValue == Tag.Name.int.rawValue, let value = located.node.int else {
            report(located, "expected an integer, got \(located.summary)")
            return nil
        }
        guard range.contains(value) else {
            report(located, Self.outOfRange(String(value), range))
            return nil
        }
        return value
    }

    /// A duration (`30s`, `500ms`, `5m`, `1h`; a bare number is seconds) of at least `minimum`.
    func duration(_ located: ConfigNode, minimum: ConfigDuration = ConfigDuration(nanoseconds: 1)) -> ConfigDuration? {
        guard case .scalar(let scalar) = located.node, !located.isNull, let value = ConfigDuration(scalar.string) else {
            report(located, "expected a duration such as 500ms, 30s, 5m or 1h, got \(located.summary)")
            return nil
        }
        guard value.nanoseconds >= minimum.nanoseconds else {
            report(located, minimum.nanoseconds <= 0 ? "must not be negative"
                   : minimum.nanoseconds == 1 ? "must be greater than 0" : "must be at least \(minimum)")
            return nil
        }
        return value
    }

    /// A byte size (`8192`, `16KiB`, `1MiB`) of at least `minimum` bytes.
    func size(_ located: ConfigNode, minimum: Int = 1) -> Int? {
        guard case .scalar(let scalar) = located.node, !located.isNull else {
            report(located, "expected a size such as 8192, 64KiB or 1MiB, got \(located.summary)")
            return nil
        }
        guard let value = ByteSize(scalar.string) else {
            if ByteSize.usesDecimalUnit(scalar.string) {
                report(located, "\(located.summary) uses a decimal unit; sizes take B, KiB, MiB or GiB (1MiB = 1048576 bytes)")
            } else {
                report(located, "expected a size such as 8192, 64KiB or 1MiB, got \(located.summary)")
            }
            return nil
        }
        guard value.bytes >= minimum else {
            report(located, "must be at least \(ByteSize(bytes: minimum))")
            return nil
        }
        return value.bytes
    }

    /// One of a fixed set of words.
    func choice<T>(_ located: ConfigNode, _ options: [(String, T)]) -> T? {
        if case .scalar(let scalar) = located.node, !located.isNull,
           let match = options.first(where: { $0.0 == scalar.string }) {
            return match.1
        }
        report(located, "expected one of \(options.map(\.0).joined(separator: ", ")), got \(located.summary)")
        return nil
    }

    // MARK: Files

    /// Checks that a config-relative file exists and is readable; returns the resolved path.
    func existingFile(_ located: ConfigNode) -> String? {
        guard let spelling = nonEmptyString(located) else { return nil }
        let path = resolve(spelling)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            report(located, "file \(Self.describe(spelling, resolved: path)) does not exist")
            return nil
        }
        guard !isDirectory.boolValue else {
            report(located, "\(Self.describe(spelling, resolved: path)) is a directory, not a file")
            return nil
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            report(located, "file \(Self.describe(spelling, resolved: path)) is not readable")
            return nil
        }
        return path
    }

    /// `spelling`, plus where it resolved to when that differs.
    static func describe(_ spelling: String, resolved: String) -> String {
        spelling == resolved ? spelling : "\(spelling) (\(resolved))"
    }

    // MARK: Messages

    /// `N is out of range (a–b)`.
    static func outOfRange(_ value: String, _ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "\(value) is too small; it must be at least \(range.lowerBound)" }
        return "\(value) is out of range; it must be between \(range.lowerBound) and \(range.upperBound)"
    }

    /// The allowed key closest to a misspelt one, when it is close enough to be a likely typo.
    static func closest(to key: String, in allowed: [String]) -> String? {
        let scored = allowed.map { ($0, editDistance(key.lowercased(), $0)) }.min { $0.1 < $1.1 }
        guard let (best, distance) = scored, distance <= max(1, min(3, key.count / 2)) else { return nil }
        return best
    }

    /// Levenshtein distance.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
