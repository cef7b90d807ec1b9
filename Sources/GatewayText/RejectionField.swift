/// The keys of one rejection-log line, spelled here once for the writer (`RejectionRecord`, which
/// uses this enum as its `CodingKeys`) and the reader (`wsgate rejections`' line parser), so the
/// two cannot drift.
///
/// The cases are in the order the writer puts them on a line (fixed, for people reading the file);
/// `time`, `status` and `reason` are always present, the rest only when known.
public enum RejectionField: String, CodingKey, CaseIterable, Sendable {
    /// RFC 3339 UTC time with milliseconds.
    case time
    /// The HTTP status sent.
    case status
    /// The stable snake_case reason code.
    case reason
    /// The matched route pattern.
    case route
    /// The request path, without its query string.
    case path
    /// The client's `ip:port`.
    case client
    /// Free text, never a token.
    case detail
    /// The token's key id.
    case kid
    /// The token's issuer.
    case iss
    /// The token's subject.
    case sub
    /// The token's fingerprint.
    case token_fp
    /// The request id.
    case request_id

    /// The key's UTF-8 bytes, indexed by case order, so the parser matches keys without building
    /// strings.
    public static let utf8Names: [[UInt8]] = allCases.map { Array($0.rawValue.utf8) }
}
