/// Why a line is not a rejection record.
public enum RejectionLineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The line stops inside the object: a partial write or a cut file.
    case truncated
    /// The line is not the JSON object of a rejection record.
    case corrupt(String)

    /// For the problem report.
    public var description: String {
        switch self {
        case .truncated: "truncated line (ends inside the JSON object)"
        case .corrupt(let why): "corrupt line (\(why))"
        }
    }
}
