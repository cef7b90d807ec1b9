import Foundation
import GatewayHandshake
import GatewayText

/// Which records to keep: every given condition must hold; a condition with several values (two
/// `--reason`s) holds when any of them does.
public struct RejectionFilter: Sendable {
    /// Keep records at or after this time (milliseconds since the epoch).
    public var from: Int64?
    /// Keep records before this time (milliseconds since the epoch); `[from, to)`.
    public var to: Int64?
    /// Keep these reason codes.
    public var reasons: Set<String> = []
    /// Keep these HTTP statuses.
    public var statuses: Set<Int> = []
    /// Keep records whose route pattern or request path is one of these; a trailing `*` matches a
    /// prefix (`/ws/rooms/*`).
    public var routes: [String] = []
    /// Keep records from these clients: `ip:port`, an IP (any port), or a CIDR block.
    public var clients: [String] = [] {
        didSet {
            clientBlocks = clients.map { $0.contains("/") ? CIDRBlock(String(HostPort.host(of: $0))) : nil }
            clientAddresses = clients.map { CIDRBlock.addressBytes(String(HostPort.host(of: $0))) }
        }
    }
    /// Keep records with these subjects.
    public var subjects: [String] = []
    /// Keep records whose token fingerprint starts with one of these.
    public var tokenFingerprints: [String] = []

    private var clientBlocks: [CIDRBlock?] = []
    private var clientAddresses: [[UInt8]?] = []

    /// Creates a filter that keeps everything.
    public init() {}

    /// Whether nothing is filtered out.
    public var keepsEverything: Bool {
        from == nil && to == nil && reasons.isEmpty && statuses.isEmpty && routes.isEmpty && clients.isEmpty
            && subjects.isEmpty && tokenFingerprints.isEmpty
    }

    /// Whether `record` is kept.
    public func matches(_ record: RejectionRecord) -> Bool {
        if !reasons.isEmpty, !reasons.contains(record.reason) { return false }
        if !statuses.isEmpty, !statuses.contains(record.status) { return false }
        if from != nil || to != nil {
            guard let time = RFC3339.epochMilliseconds(record.time) else { return false }
            if let from, time < from { return false }
            if let to, time >= to { return false }
        }
        if !routes.isEmpty, !routes.contains(where: { Self.route($0, matches: record) }) { return false }
        if !subjects.isEmpty, !subjects.contains(where: { $0 == record.sub }) { return false }
        if !tokenFingerprints.isEmpty {
            guard let fp = record.token_fp, tokenFingerprints.contains(where: { fp.hasPrefix($0.lowercased()) }) else { return false }
        }
        if !clients.isEmpty {
            guard let client = record.client, clientMatches(client) else { return false }
        }
        return true
    }

    private static func route(_ pattern: String, matches record: RejectionRecord) -> Bool {
        if record.route == pattern || record.path == pattern { return true }
        guard pattern.hasSuffix("*") else { return false }
        let prefix = pattern.dropLast()
        return record.path?.hasPrefix(prefix) == true || record.route?.hasPrefix(prefix) == true
    }

    private func clientMatches(_ client: String) -> Bool {
        let host = HostPort.host(of: client)
        var address: [UInt8]??
        func bytes() -> [UInt8]? {
            if address == nil { address = .some(CIDRBlock.addressBytes(String(host))) }
            return address!
        }
        for (index, wanted) in clients.enumerated() {
            if wanted.utf8.contains(UInt8(ascii: "/")) {
                // A CIDR block: any address inside it.
                if let block = clientBlocks[index], let bytes = bytes(), block.contains(bytes) { return true }
            } else if Self.hasPort(wanted) {
                if wanted == client { return true }
                // `[2001:DB8::1]:443` and `[2001:db8::1]:443` are one client.
                if Self.port(of: wanted) == Self.port(of: client), let wantedBytes = clientAddresses[index], wantedBytes == bytes() { return true }
            } else if HostPort.host(of: wanted) == host {
                return true
            } else if let wantedBytes = clientAddresses[index], wantedBytes == bytes() {
                // IPv6 has many spellings of one address.
                return true
            }
        }
        return false
    }

    private static func port(of client: String) -> Substring? {
        guard hasPort(client), let colon = client.lastIndex(of: ":") else { return nil }
        return client[client.index(after: colon)...]
    }

    private static func hasPort(_ client: String) -> Bool {
        HostPort.host(of: client).count != client.count && !(client.first == "[" && client.last == "]")
    }

    // MARK: Times

    /// The start time for `--since`: a span back from `now` (`10m`, in `DurationText`'s grammar;
    /// not negative), or an RFC 3339 time; nil when it is neither.
    public static func start(since text: String, now: Date) -> Int64? {
        if let nanoseconds = DurationText.nanoseconds(text) {
            guard nanoseconds >= 0 else { return nil }
            return Int64((now.timeIntervalSince1970 * 1000).rounded(.down)) - (nanoseconds + 500_000) / 1_000_000
        }
        return RFC3339.epochMilliseconds(text)
    }
}
