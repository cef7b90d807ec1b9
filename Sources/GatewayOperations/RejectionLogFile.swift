import Foundation

/// One file of the log: the live file, a rotated sibling (`FILE.1`), or a compressed one (`FILE.2.gz`).
public struct RejectionLogFile: Sendable, Equatable, CustomStringConvertible {
    /// Its path; `-` is standard input.
    public var path: String
    /// Whether it is gzip-compressed (RFC 1952; decompressed in the process as it is read).
    public var isCompressed: Bool

    /// Creates a file reference; `.gz` names are compressed unless told otherwise.
    public init(path: String, isCompressed: Bool? = nil) {
        self.path = path
        self.isCompressed = isCompressed ?? path.hasSuffix(".gz")
    }

    /// The path.
    public var description: String { path }

    /// The files to read for the log at `path`, oldest first, ending with `path` itself.
    ///
    /// Rotated siblings are `path.N` and `path.N.gz` (logrotate's default numbering, higher is
    /// older) and `path-SUFFIX[.gz]` (logrotate's `dateext`, sorted by name). A missing live file
    /// is still listed so that reading it reports it. A `path` ending in `.gz` is one compressed
    /// file, listed alone.
    public static func files(for path: String, rotation: RejectionLogRotation = .latest) -> [RejectionLogFile] {
        // `--log old.jsonl.3.gz` names one compressed file: read just that, decompressed.
        let live = RejectionLogFile(path: path)
        guard rotation != .none, path != "-", !live.isCompressed else { return [live] }
        // Siblings are named the way `path` is (relative stays relative), for the problem reports.
        let slash = path.lastIndex(of: "/")
        let prefix = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: prefix.isEmpty ? "." : prefix)) ?? []
        var numbered: [(Int, String)] = []
        var dated: [String] = []
        for name in names where name.count > base.count && name.hasPrefix(base) {
            var rest = Substring(name.dropFirst(base.count))
            if rest.hasSuffix(".gz") { rest = rest.dropLast(3) }
            if rest.first == ".", rest.count > 1, rest.dropFirst().allSatisfy({ ("0"..."9").contains($0) }), let number = Int(rest.dropFirst()) {
                numbered.append((number, name))
            } else if rest.first == "-", rest.count > 1, rest.dropFirst().allSatisfy({ $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
                dated.append(name)
            }
        }
        // Both `FILE.1` and `FILE.1.gz` can exist for a moment while logrotate compresses; the
        // plain one is complete, the compressed one may not be yet.
        numbered.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1.count < $1.1.count }
        var seen = Set<Int>()
        numbered = numbered.filter { seen.insert($0.0).inserted }
        dated.sort()
        var rotated = dated + numbered.map(\.1)
        if rotation == .latest, let newest = rotated.last { rotated = [newest] }
        return rotated.map { RejectionLogFile(path: prefix + $0) } + [live]
    }
}
