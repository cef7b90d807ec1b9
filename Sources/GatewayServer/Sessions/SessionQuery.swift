import Foundation
import GatewayAuth

/// `GET /sessions?sub=&route=&jti=&sid=&limit=`: filters (all must hold) and a bound.
public struct SessionQuery: Sendable, Equatable {
    public var subject: String?
    public var route: String?
    public var tokenID: String?
    public var sessionID: String?
    /// At most this many sessions are listed (`count` still tells how many matched).
    public var limit: Int
    /// `cluster=1`: gather the sessions of every live instance of the cluster, not only this one's.
    public var cluster = false

    /// The default and the largest `limit`.
    public static let defaultLimit = 1000
    public static let maxLimit = 100_000

    /// Creates a query.
    public init(subject: String? = nil, route: String? = nil, tokenID: String? = nil, sessionID: String? = nil, limit: Int = defaultLimit) {
        self.subject = subject
        self.route = route
        self.tokenID = tokenID
        self.sessionID = sessionID
        self.limit = limit
    }

    /// Parses a query string; unknown parameters, repeated ones and a bad `limit` are refused by name.
    public init(query: Substring?) throws(AdminRequestError) {
        self.init()
        guard let query, !query.isEmpty else { return }
        var seen: Set<String> = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = TokenCarriers.percentDecode(parts[0]) else { throw AdminRequestError(field: nil, "broken %-encoding") }
            guard let value = parts.count == 2 ? TokenCarriers.percentDecode(parts[1]) : "" else {
                throw AdminRequestError(field: String(name.prefix(64)), "broken %-encoding")
            }
            guard seen.insert(name).inserted else { throw AdminRequestError(field: String(name.prefix(64)), "given twice") }
            switch name {
            case "sub": subject = value
            case "route": route = value
            case "jti": tokenID = value
            case "sid": sessionID = value
            case "limit":
                guard let n = Int(value), (1...SessionQuery.maxLimit).contains(n) else {
                    throw AdminRequestError(field: "limit", "must be a whole number from 1 to \(SessionQuery.maxLimit)")
                }
                limit = n
            case "cluster":
                switch value {
                case "1", "true": cluster = true
                case "0", "false": cluster = false
                default: throw AdminRequestError(field: "cluster", "must be 1 or 0")
                }
            default:
                throw AdminRequestError(field: String(name.prefix(64)), "unknown parameter")
            }
        }
    }

    /// The filters and the limit as a query string (without `cluster`), for asking other instances.
    public var queryString: String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#")
        var parts: [String] = []
        for (name, value) in [("sub", subject), ("route", route), ("jti", tokenID), ("sid", sessionID)] {
            guard let value else { continue }
            parts.append("\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")")
        }
        parts.append("limit=\(limit)")
        return parts.joined(separator: "&")
    }

    /// Whether a session passes every filter.
    public func includes(_ info: SessionInfo) -> Bool {
        (subject == nil || info.subject == subject) && (route == nil || info.route == route)
            && (tokenID == nil || info.tokenID == tokenID) && (sessionID == nil || info.sessionID == sessionID)
    }
}
