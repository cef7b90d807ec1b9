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

    /// The most any key, secret, JWKS or config file may hold: 1 MiB, as much as a fetched JWKS
    /// document (`JWKSRefresher.maximumDocumentBytes`). A path naming `/dev/zero`, a huge log by
    /// mistake or a FIFO that never ends gets a one-line error instead of eating memory.
    public static let maximumFileBytes = 1 << 20

    /// A whole file's bytes (at most `limit`), with a one-line reason when it cannot be read.
    public static func contents(ofFile path: String, limit: Int = maximumFileBytes) throws(KeyError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw KeyError("\(path) does not exist")
        }
        guard !isDirectory.boolValue else { throw KeyError("\(path) is a directory, not a file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KeyError("\(path) is not readable")
        }
        defer { try? handle.close() }
        // One byte past the limit tells "exactly the limit" from "more".
        let data: Data
        do {
            data = try handle.read(upToCount: limit + 1) ?? Data()
        } catch {
            throw KeyError("\(path) is not readable")
        }
        guard data.count <= limit else {
            throw KeyError("\(path) is larger than \(limit) bytes")
        }
        return Array(data)
    }
}
