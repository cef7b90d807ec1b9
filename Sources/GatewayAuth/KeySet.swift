/// The keys a verifier selects from: by `kid` when the token names one, otherwise every key bound
/// to the token's `alg` (RFC 7515 §4.1.4, §6).
public struct KeySet: Sendable {
    /// The keys, in configuration order (the order candidates are tried when a token has no kid).
    public var keys: [VerificationKey]
    /// Creates a key set.
    public init(_ keys: [VerificationKey]) { self.keys = keys }
}
