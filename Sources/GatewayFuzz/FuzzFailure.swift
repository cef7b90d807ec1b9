/// An invariant a fuzz input broke: which one, in words a reader of the crash log can act on.
public struct FuzzFailure: Error, CustomStringConvertible, Sendable {
    /// What went wrong (never contains a secret; may quote the input, which is public).
    public let description: String

    /// Creates a failure.
    public init(_ description: String) { self.description = description }
}
