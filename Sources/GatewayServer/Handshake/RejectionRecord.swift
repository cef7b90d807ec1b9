import Foundation
import GatewayAuth
import GatewayHandshake

/// One line of the rejection log (JSON). The gateway writes it and `wsgate rejections` reads it,
/// through this one type.
public struct RejectionRecord: Codable, Sendable, Equatable {
    /// RFC 3339 UTC time with milliseconds.
    public var time: String
    public var status: Int
    public var reason: String
    public var route: String?
    /// Never includes the query string.
    public var path: String?
    public var client: String?
    public var detail: String?
    public var kid: String?
    public var iss: String?
    public var sub: String?
    public var token_fp: String?
    public var request_id: String?

    /// Creates a record.
    public init(time: String, status: Int, reason: String, route: String? = nil, path: String? = nil,
                client: String? = nil, detail: String? = nil, kid: String? = nil, iss: String? = nil,
                sub: String? = nil, token_fp: String? = nil, request_id: String? = nil) {
        self.time = time
        self.status = status
        self.reason = reason
        self.route = route
        self.path = path
        self.client = client
        self.detail = detail
        self.kid = kid
        self.iss = iss
        self.sub = sub
        self.token_fp = token_fp
        self.request_id = request_id
    }

    /// Builds the record for a rejection.
    public init(rejection: Rejection, status: Int, context: RejectionContext, at date: Date) {
        self.init(
            time: RejectionRecord.timestamp(date),
            status: status,
            reason: rejection.reason,
            route: context.route,
            path: context.path,
            client: context.client,
            detail: context.detail,
            kid: context.kid,
            iss: context.issuer,
            sub: context.subject,
            token_fp: context.tokenFingerprint,
            request_id: context.requestID
        )
    }

    /// One JSON line (no trailing newline), keys in a fixed order for people reading the file.
    public func jsonLine() -> String {
        var out = "{\"time\":\(RejectionRecord.quote(time)),\"status\":\(status),\"reason\":\(RejectionRecord.quote(reason))"
        func add(_ key: String, _ value: String?) {
            if let value { out += ",\"\(key)\":\(RejectionRecord.quote(value))" }
        }
        add("route", route)
        add("path", path)
        add("client", client)
        add("detail", detail)
        add("kid", kid)
        add("iss", iss)
        add("sub", sub)
        add("token_fp", token_fp)
        add("request_id", request_id)
        return out + "}"
    }

    /// `2026-11-25T15:30:01.123Z`.
    public static func timestamp(_ date: Date) -> String {
        // Whole milliseconds first (nearest): subtracting or truncating doubles turns .017 into .016.
        let totalMillis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(totalMillis >= 0 ? totalMillis / 1000 : (totalMillis - 999) / 1000)
        let millis = Int(totalMillis - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }

    /// A JSON string literal; control characters escaped so a line stays one line.
    static func quote(_ text: String) -> String {
        // Most values need no escaping at all: copy them whole.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5c }) { return "\"" + text + "\"" }
        return JSONValue.string(text).jsonText
    }
}
