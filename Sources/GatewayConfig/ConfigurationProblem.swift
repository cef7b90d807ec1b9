/// One thing wrong with a configuration, located by its key path and, where the YAML gives one,
/// its line.
///
/// Its description is one line, `routes[1].upstream (line 14): "http://x" is not a ws:// or wss:// URL`,
/// so that `wsgate check` can print one problem per line. A problem never quotes a secret.
public struct ConfigurationProblem: Sendable, Hashable, CustomStringConvertible {
    /// Dotted key path with list indices (`routes[1].upstream`); empty for the document itself.
    public var path: String
    /// 1-based line in the YAML file, when known.
    public var line: Int?
    /// What is wrong, in one line.
    public var message: String

    /// Creates a problem.
    public init(path: String, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    /// `path (line N): message`, leaving out whichever location part is unknown.
    public var description: String {
        switch (path.isEmpty, line) {
        case (false, let line?): "\(path) (line \(line)): \(message)"
        case (false, nil): "\(path): \(message)"
        case (true, let line?): "line \(line): \(message)"
        case (true, nil): message
        }
    }
}

/// Every problem found in one configuration; thrown when there is at least one.
public struct ConfigurationProblems: Error, Sendable, CustomStringConvertible {
    /// The problems, ordered by line (problems without a line last), then as found.
    public var problems: [ConfigurationProblem]

    /// Creates the error from a non-empty list of problems.
    public init(_ problems: [ConfigurationProblem]) {
        self.problems = problems
    }

    /// One problem per line.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
