import GatewayAuth

/// The active revocations as an immutable value with an index per kind, so the handshake's check
/// is a few dictionary lookups however many revocations there are.
public struct RevocationSet: Sendable {
    /// Every revocation, by id.
    public private(set) var byID: [String: Revocation] = [:]
    private var bySubject: [String: [Revocation]] = [:]
    private var byTokenID: [String: [Revocation]] = [:]
    private var bySessionID: [String: [Revocation]] = [:]
    private var bySession: [String: [Revocation]] = [:]
    private var byDigest: [String: [Revocation]] = [:]

    /// An empty set.
    public init() {}

    /// A set holding `revocations`.
    public init(_ revocations: some Sequence<Revocation>) {
        for revocation in revocations { insert(revocation) }
    }

    /// No revocation at all (the handshake skips the check).
    public var isEmpty: Bool { byID.isEmpty }
    /// How many there are.
    public var count: Int { byID.count }
    /// Whether a session revocation may match a token by its digest (only then is it computed).
    public var matchesDigests: Bool { !byDigest.isEmpty }

    /// Adds (or replaces, by id) a revocation.
    public mutating func insert(_ revocation: Revocation) {
        if byID[revocation.id] != nil { remove(id: revocation.id) }
        byID[revocation.id] = revocation
        switch revocation.kind {
        case .subject: bySubject[revocation.value, default: []].append(revocation)
        case .tokenID: byTokenID[revocation.value, default: []].append(revocation)
        case .sessionID: bySessionID[revocation.value, default: []].append(revocation)
        case .session:
            bySession[revocation.value, default: []].append(revocation)
            for digest in revocation.tokenDigests { byDigest[digest, default: []].append(revocation) }
        }
    }

    /// Removes a revocation; returns it when it was there.
    @discardableResult
    public mutating func remove(id: String) -> Revocation? {
        guard let revocation = byID.removeValue(forKey: id) else { return nil }
        func drop(_ index: inout [String: [Revocation]], _ key: String) {
            index[key]?.removeAll { $0.id == id }
            if index[key]?.isEmpty == true { index[key] = nil }
        }
        switch revocation.kind {
        case .subject: drop(&bySubject, revocation.value)
        case .tokenID: drop(&byTokenID, revocation.value)
        case .sessionID: drop(&bySessionID, revocation.value)
        case .session:
            drop(&bySession, revocation.value)
            for digest in revocation.tokenDigests { drop(&byDigest, digest) }
        }
        return revocation
    }

    /// Removes every revocation whose `until` has passed; returns how many went.
    @discardableResult
    public mutating func removeExpired(now: Double) -> Int {
        let expired = byID.values.filter { $0.until <= now }.map(\.id)
        for id in expired { remove(id: id) }
        return expired.count
    }

    /// The first revocation that covers a token or session described by `info`, if any.
    public func match(_ info: SessionInfo, now: Double) -> Revocation? {
        func first(_ index: [String: [Revocation]], _ key: String?) -> Revocation? {
            guard let key, let candidates = index[key] else { return nil }
            return candidates.first { $0.covers(info, now: now) }
        }
        return first(bySubject, info.subject) ?? first(byTokenID, info.tokenID) ?? first(bySessionID, info.sessionID)
            ?? first(bySession, info.id) ?? first(byDigest, info.tokenDigest)
    }

    /// Every revocation, oldest first.
    public var all: [Revocation] {
        byID.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }
}

extension RevocationSet {
    /// The revocation covering a verified token (as a handshake or a refresh presents it), if any.
    public func match(_ token: VerifiedToken, tokenDigest digest: String, now: Double) -> Revocation? {
        var described = SessionInfo(id: "", route: "", client: "", openedAt: now)
        described.adopt(token, digest: digest)
        return match(described, now: now)
    }

    /// The unexpired revocations a single instance saved in `directory` (its `state_dir`), and a
    /// message per line that could not be read: what `wsgate verify` checks a token against.
    public static func saved(inDirectory directory: String, now: Double) -> (set: RevocationSet, problems: [String]) {
        let contents = RevocationFile(directory: directory).load()
        var set = RevocationSet(contents.revocations)
        set.removeExpired(now: now)
        return (set, contents.problems)
    }
}
