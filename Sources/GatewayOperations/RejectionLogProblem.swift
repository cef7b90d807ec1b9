/// A line or a file that was skipped, with where it is, for standard error.
public struct RejectionLogProblem: Sendable, Equatable, CustomStringConvertible, Error {
    /// The file, as given (a rotated sibling's own name).
    public var file: String
    /// The 1-based line number, when the problem is one line.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// Creates a problem report.
    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `logs/rejections.jsonl:42: truncated line (ends inside the JSON object); skipped`.
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
