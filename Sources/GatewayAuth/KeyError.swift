/// A problem loading or using a key: a bad PEM or JWKS document, a secret that is too short, an
/// algorithm that does not fit the key. Never carries the secret itself.
public struct KeyError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for operators.
    public var description: String
    /// Creates an error with a human explanation.
    public init(_ description: String) { self.description = description }
}
