import Foundation
import GatewayHandshake
import GatewayText

/// Counts over rejection records, for `wsgate rejections --summary`: by reason, status and route,
/// the busiest clients and subjects, and when the first and last were seen.
///
/// Add records one by one (a million lines do not need to be held in memory), then render it as a
/// table or JSON.
public struct RejectionSummary: Sendable, Equatable {
    /// Records added.
    public private(set) var total = 0
    /// Records per reason code.
    public private(set) var byReason: [String: Int] = [:]
    /// Records per HTTP status.
    public private(set) var byStatus: [Int: Int] = [:]
    /// Records per route pattern; `-` for requests that matched no route.
    public private(set) var byRoute: [String: Int] = [:]
    /// Records per client address, ports dropped (a client's ports change with every connection).
    public private(set) var byClient: [String: Int] = [:]
    /// Records per token subject, for records that have one.
    public private(set) var bySubject: [String: Int] = [:]
    /// The earliest record's time, as written.
    public private(set) var firstSeen: String?
    /// The latest record's time, as written.
    public private(set) var lastSeen: String?
    /// Records whose time is not RFC 3339 (counted, but not in first/last).
    public private(set) var unreadableTimes = 0

    private var firstMilliseconds = Int64.max
    private var lastMilliseconds = Int64.min

    /// An empty summary.
    public init() {}

    /// Counts one record.
    public mutating func add(_ record: RejectionRecord) {
        total += 1
        byReason[record.reason, default: 0] += 1
        byStatus[record.status, default: 0] += 1
        byRoute[record.route ?? "-", default: 0] += 1
        if let client = record.client {
            let host = HostPort.host(of: client)
            byClient[host.utf8.count == client.utf8.count ? client : String(host), default: 0] += 1
        }
        if let sub = record.sub { bySubject[sub, default: 0] += 1 }
        if let time = RFC3339.epochMilliseconds(record.time) {
            if time < firstMilliseconds {
                firstMilliseconds = time
                firstSeen = record.time
            }
            if time >= lastMilliseconds {
                lastMilliseconds = time
                lastSeen = record.time
            }
        } else {
            unreadableTimes += 1
        }
    }

    /// Entries by count, highest first (ties by name), at most `limit`.
    public static func ranked<Key: Comparable>(_ counts: [Key: Int], limit: Int = .max) -> [(key: Key, count: Int)] {
        let sorted = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        return sorted.prefix(max(0, limit)).map { (key: $0.key, count: $0.value) }
    }

    /// Seconds between the first and the last record.
    public var spanSeconds: Double? {
        guard firstSeen != nil, lastSeen != nil else { return nil }
        return Double(lastMilliseconds - firstMilliseconds) / 1000
    }

    // MARK: Rendering

    /// A plain-text report: a headline, then one table per dimension; `top` bounds the client and
    /// subject tables (the reason, status and route tables are short and shown whole).
    public func text(top: Int = 10) -> String {
        var out = "\(total) rejection\(total == 1 ? "" : "s")"
        if let firstSeen, let lastSeen, let span = spanSeconds {
            out += ", \(firstSeen) to \(lastSeen) (\(Self.describe(seconds: span)))"
        }
        if unreadableTimes > 0 { out += "; \(unreadableTimes) with an unreadable time" }
        out += "\n"
        guard total > 0 else { return out }
        out += table("reason", Self.ranked(byReason).map { ($0.key, $0.count) })
        out += table("status", Self.ranked(byStatus).map { (String($0.key), $0.count) })
        out += table("route", Self.ranked(byRoute).map { ($0.key, $0.count) })
        out += table(Self.heading("client", shown: top, of: byClient.count), Self.ranked(byClient, limit: top).map { ($0.key, $0.count) })
        out += table(Self.heading("subject", shown: top, of: bySubject.count), Self.ranked(bySubject, limit: top).map { ($0.key, $0.count) })
        return out
    }

    /// The same report as one JSON object (counts as objects, top lists as arrays in rank order).
    public func json(top: Int = 10) -> String {
        func counts(_ rows: [(String, Int)]) -> String {
            "{" + rows.map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        }
        func list(_ name: String, _ rows: [(key: String, count: Int)]) -> String {
            "[" + rows.map { "{\"\(name)\":\(JSONText.quoted($0.key)),\"count\":\($0.count)}" }.joined(separator: ",") + "]"
        }
        var out = "{\"total\":\(total)"
        out += ",\"first_seen\":" + (firstSeen.map(JSONText.quoted) ?? "null")
        out += ",\"last_seen\":" + (lastSeen.map(JSONText.quoted) ?? "null")
        out += ",\"by_reason\":" + counts(Self.ranked(byReason).map { ($0.key, $0.count) })
        out += ",\"by_status\":" + counts(Self.ranked(byStatus).map { (String($0.key), $0.count) })
        out += ",\"by_route\":" + counts(Self.ranked(byRoute).map { ($0.key, $0.count) })
        out += ",\"clients\":\(byClient.count),\"top_clients\":" + list("client", Self.ranked(byClient, limit: top))
        out += ",\"subjects\":\(bySubject.count),\"top_subjects\":" + list("sub", Self.ranked(bySubject, limit: top))
        return out + "}"
    }

    private static func heading(_ noun: String, shown: Int, of count: Int) -> String {
        count > shown ? "\(noun) (top \(shown) of \(count))" : noun
    }

    /// `name  count  share` rows under a heading, names left-aligned, numbers right-aligned.
    private func table(_ heading: String, _ rows: [(String, Int)]) -> String {
        guard !rows.isEmpty else { return "" }
        let names = rows.map { RejectionSummary.printable($0.0) }
        let nameWidth = max(heading.count, names.map(\.count).max() ?? 0)
        let countWidth = max(5, String(rows.map(\.1).max() ?? 0).count)
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - text.count))
            return right ? fill + text : text + fill
        }
        var out = "\n" + pad(heading, nameWidth) + "  " + pad("count", countWidth, right: true) + "   share\n"
        for (name, row) in zip(names, rows) {
            let share = total > 0 ? Double(row.1) * 100 / Double(total) : 0
            out += pad(name, nameWidth) + "  " + pad(String(row.1), countWidth, right: true) + "  "
                + pad(String(format: "%5.1f%%", share), 6, right: true) + "\n"
        }
        return out
    }

    /// `3d 4h`, `2h 5m`, `4m 10s`, `12.3s`: two units are enough to read a span.
    public static func describe(seconds: Double) -> String {
        let whole = Int(seconds)
        let days = whole / 86_400, hours = whole % 86_400 / 3600, minutes = whole % 3600 / 60, secs = whole % 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(secs)s" }
        return String(format: "%.1fs", seconds)
    }

    /// Text safe to print on a terminal: control characters (which a client can put in a path or a
    /// header that ends up in `detail`) are shown escaped instead of being interpreted.
    public static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 }) else {
            return text
        }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029 {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
