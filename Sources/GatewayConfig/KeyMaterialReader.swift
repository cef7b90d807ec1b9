import Foundation
import GatewayAuth

/// Reads key material from files and the environment, the way the config and the CLI both do.
public enum KeyMaterialReader {
    /// An HMAC secret from a file: the raw bytes, with trailing `\n`/`\r\n` removed (files written
    /// by `echo` or editors end in one, and it is never meant as part of the secret).
    public static func secret(fromFile path: String) throws(KeyError) -> [UInt8] {
        var bytes = try contents(ofFile: path)
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") {
            bytes.removeLast()
        }
        guard !bytes.isEmpty else { throw KeyError("secret file \(path) is empty") }
        return bytes
    }

    /// An HMAC secret from an environment variable (its UTF-8 bytes, as is).
    public static func secret(fromEnvironment name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(KeyError) -> [UInt8] {
        guard let value = environment[name] else { throw KeyError("environment variable \(name) is not set") }
        guard !value.isEmpty else { throw KeyError("environment variable \(name) is empty") }
        return Array(value.utf8)
    }

    /// A whole file's bytes, with a one-line reason when it cannot be read.
    public static func contents(ofFile path: String) throws(KeyError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw KeyError("\(path) does not exist")
        }
        guard !isDirectory.boolValue else { throw KeyError("\(path) is a directory, not a file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError("\(path) is not readable")
        }
        return Array(data)
    }
}
