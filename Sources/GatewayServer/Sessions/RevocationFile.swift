import Foundation
import GatewayAuth
import GatewayHandshake

/// The revocations of a single instance, kept across restarts as JSON Lines in `state_dir`
/// (`revocations.jsonl`): one revocation a line, so a damaged line is reported by its number and
/// the others still load.
struct RevocationFile: Sendable {
    /// The file's path.
    let path: String

    /// The file in `directory`.
    init(directory: String) {
        path = (directory as NSString).appendingPathComponent("revocations.jsonl")
    }

    /// What loading found: the revocations that parsed, and one message per line that did not.
    struct Contents {
        var revocations: [Revocation] = []
        var problems: [String] = []
    }

    /// Reads the file; a missing file is an empty set. Never throws: every problem is a message
    /// naming the path and line.
    func load() -> Contents {
        var contents = Contents()
        guard FileManager.default.fileExists(atPath: path) else { return contents }
        guard let data = FileManager.default.contents(atPath: path) else {
            contents.problems.append("\(path): cannot be read")
            return contents
        }
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            do {
                contents.revocations.append(try RevocationFile.revocation(fromLine: Array(line)))
            } catch {
                contents.problems.append("\(path):\(lineNumber): \(error.description)")
            }
        }
        return contents
    }

    /// Replaces the file with `revocations`, atomically (a temporary file in the same directory,
    /// flushed to disk, then renamed over the old one), so a crash leaves the old or the new set.
    func save(_ revocations: [Revocation]) throws(RevocationFileError) {
        var text = ""
        for revocation in revocations { text += RevocationFile.line(for: revocation) + "\n" }
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RevocationFileError(description: "\(directory): cannot create the state directory (\(error.localizedDescription))")
        }
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RevocationFileError(description: "\(temporary): cannot be written (\(String(cString: strerror(errno))))")
        }
        var failure = DescriptorWriter.writeAll(Array(text.utf8), to: fd) ?? 0
        if failure == 0, fsync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0, rename(temporary, path) == 0 else {
            let code = failure != 0 ? failure : errno
            unlink(temporary)
            throw RevocationFileError(description: "\(path): cannot be written (\(String(cString: strerror(code))))")
        }
    }

    /// One line of the file.
    static func line(for revocation: Revocation) -> String {
        var out = JSONObjectWriter()
        out.add("id", revocation.id)
        out.add("kind", revocation.kind.rawValue)
        out.add("value", revocation.value)
        out.add("issued_before", revocation.issuedBefore.map { Int64($0) })
        out.add("until", Int64(revocation.until))
        out.add("reason", revocation.reason)
        out.add("created_at", Int64(revocation.createdAt))
        if !revocation.tokenDigests.isEmpty {
            out.add("token_sha256", raw: JSONValue.array(revocation.tokenDigests.map { .string($0) }).jsonText)
        }
        return out.text
    }

    /// Parses one line, refusing anything the writer would not have written.
    static func revocation(fromLine bytes: [UInt8]) throws(RevocationFileError) -> Revocation {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: bytes)
        } catch {
            throw RevocationFileError(description: "not a JSON object: the text \(error.description)")
        }
        guard case .object(let members) = value else { throw RevocationFileError(description: "not a JSON object") }
        let known: Set<String> = ["id", "kind", "value", "issued_before", "until", "reason", "created_at", "token_sha256"]
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw RevocationFileError(description: "unknown field \"\(unknown.prefix(40))\"")
        }
        func string(_ name: String) throws(RevocationFileError) -> String {
            guard let text = members[name]?.stringValue else { throw RevocationFileError(description: "\(name) is missing or not a string") }
            return text
        }
        func number(_ name: String) throws(RevocationFileError) -> Double {
            guard let number = members[name]?.doubleValue, number.isFinite else {
                throw RevocationFileError(description: "\(name) is missing or not a number")
            }
            return number
        }
        let id = try string("id")
        guard RevocationID.isValid(id) else { throw RevocationFileError(description: "id is not 32 lowercase hex digits") }
        guard let kind = Revocation.Kind(rawValue: try string("kind")) else {
            throw RevocationFileError(description: "kind is not one of sub, jti, sid, session")
        }
        let issuedBefore: Double? = members["issued_before"] == nil ? nil : try number("issued_before")
        var digests: [String] = []
        if let list = members["token_sha256"] {
            guard case .array(let items) = list else { throw RevocationFileError(description: "token_sha256 is not an array") }
            for item in items {
                guard let digest = item.stringValue, digest.utf8.count == 64 else {
                    throw RevocationFileError(description: "token_sha256 holds something other than a SHA-256 in hex")
                }
                digests.append(digest)
            }
        }
        let reason = try string("reason")
        guard reason.utf8.count <= Revocation.maxReasonBytes else { throw RevocationFileError(description: "reason is over 123 bytes") }
        return Revocation(
            id: id, kind: kind, value: try string("value"), issuedBefore: issuedBefore, until: try number("until"),
            reason: reason, createdAt: try number("created_at"), tokenDigests: digests
        )
    }
}

/// Why the revocation file could not be read or written; names the path (and line).
struct RevocationFileError: Error, CustomStringConvertible {
    let description: String
}
