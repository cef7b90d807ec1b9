/// A problem loading or using a key: a bad PEM or JWKS document, a secret that is too short, an
/// algorithm that does not fit the key. Never carries the secret itself.
public struct KeyError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for operators.
    public var description: String
    /// The key material itself is unsafe (a weak RSA exponent, parameters OpenSSL's public key
    /// check refuses), rather than the document or configuration around it being wrong: a key
    /// set fetched from an issuer skips such a key and serves the rest.
    public var isUnsafeKey: Bool
    /// Creates an error with a human explanation.
    public init(_ description: String, isUnsafeKey: Bool = false) {
        self.description = description
        self.isUnsafeKey = isUnsafeKey
    }
}
