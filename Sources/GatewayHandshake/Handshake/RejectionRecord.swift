import Foundation
import GatewayAuth
import GatewayText

/// One line of the rejection log (JSON). The gateway writes it and `wsgate rejections` reads it,
/// through this one type.
public struct RejectionRecord: Codable, Sendable, Equatable {
    /// The JSON keys, spelled once in `RejectionField` for this writer and the log reader; the
    /// property names are the cases' names.
    public typealias CodingKeys = RejectionField

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

    /// One JSON line (no trailing newline), keys in `RejectionField`'s order, fixed for people
    /// reading the file; absent values are left out.
    public func jsonLine() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(UInt8(ascii: "{"))
        for field in RejectionField.allCases {
            let text: String?
            switch field {
            case .time: text = time
            case .status:
                // The one number: written bare.
                out.append(contentsOf: ",\"\(field.rawValue)\":\(status)".utf8)
                continue
            case .reason: text = reason
            case .route: text = route
            case .path: text = path
            case .client: text = client
            case .detail: text = detail
            case .kid: text = kid
            case .iss: text = iss
            case .sub: text = sub
            case .token_fp: text = token_fp
            case .request_id: text = request_id
            }
            guard let text else { continue }
            if field != .time { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: field.rawValue.utf8)
            out.append(contentsOf: "\":".utf8)
            JSONText.appendQuoted(text, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-11-25T15:30:01.123Z`: RFC 3339 in UTC, to the nearest millisecond.
    public static func timestamp(_ date: Date) -> String {
        // Whole milliseconds first (nearest): subtracting or truncating doubles turns .017 into .016.
        RFC3339.string(epochMilliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }
}
