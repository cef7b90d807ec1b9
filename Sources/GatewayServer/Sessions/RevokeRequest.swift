import GatewayAuth
import GatewayHandshake

/// A `POST /sessions/revoke` body, checked field by field: exactly one of `sub`, `jti`, `sid`,
/// `session`; optional `issued_before`, `until` (unix seconds) and `reason` (≤ 123 bytes).
public struct RevokeRequest: Sendable, Equatable {
    public var kind: Revocation.Kind
    public var value: String
    public var issuedBefore: Double?
    public var until: Double?
    public var reason: String?

    /// Creates a request.
    public init(kind: Revocation.Kind, value: String, issuedBefore: Double? = nil, until: Double? = nil, reason: String? = nil) {
        self.kind = kind
        self.value = value
        self.issuedBefore = issuedBefore
        self.until = until
        self.reason = reason
    }

    /// The default close reason.
    public static let defaultReason = "revoked"
    /// The longest `sub`, `jti`, `sid` or session id accepted.
    static let maxValueBytes = 1024

    /// Parses a body; the error names the field at fault. `now` bounds `until` (not in the past).
    public init(body: [UInt8], now: Double) throws(AdminRequestError) {
        let parsed: JSONValue
        do {
            parsed = try JSONValue(parsing: body)
        } catch {
            throw AdminRequestError(field: nil, "the body \(error.description)")
        }
        guard case .object(let members) = parsed else { throw AdminRequestError(field: nil, "the body is not a JSON object") }
        let known: Set<String> = ["sub", "jti", "sid", "session", "issued_before", "until", "reason"]
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw AdminRequestError(field: String(unknown.prefix(64)), "unknown field")
        }
        let named = Revocation.Kind.allCases.filter { members[$0.rawValue] != nil }
        guard let kind = named.first else {
            throw AdminRequestError(field: nil, "name one of sub, jti, sid, session")
        }
        guard named.count == 1 else {
            throw AdminRequestError(field: named[1].rawValue, "name only one of sub, jti, sid, session")
        }
        guard let value = members[kind.rawValue]?.stringValue else {
            throw AdminRequestError(field: kind.rawValue, "must be a string")
        }
        guard !value.isEmpty, value.utf8.count <= RevokeRequest.maxValueBytes else {
            throw AdminRequestError(field: kind.rawValue, "must be 1 to \(RevokeRequest.maxValueBytes) bytes")
        }
        func time(_ name: String) throws(AdminRequestError) -> Double? {
            guard let member = members[name] else { return nil }
            guard let seconds = member.doubleValue, seconds.isFinite, seconds >= 0, seconds < 1e11 else {
                throw AdminRequestError(field: name, "must be a time in unix seconds")
            }
            return seconds
        }
        let issuedBefore = try time("issued_before")
        let until = try time("until")
        if let until, until <= now { throw AdminRequestError(field: "until", "is not in the future") }
        var reason: String?
        if let member = members["reason"] {
            guard let text = member.stringValue else { throw AdminRequestError(field: "reason", "must be a string") }
            guard text.utf8.count <= Revocation.maxReasonBytes else {
                throw AdminRequestError(field: "reason", "is over \(Revocation.maxReasonBytes) bytes (a close frame's limit)")
            }
            guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw AdminRequestError(field: "reason", "holds a control character")
            }
            reason = text
        }
        self.init(kind: kind, value: value, issuedBefore: issuedBefore, until: until, reason: reason)
    }
}
