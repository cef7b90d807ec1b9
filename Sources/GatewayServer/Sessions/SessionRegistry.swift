import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// The live relayed sessions, findable by id, `sub`, `jti`, `sid` and route, so a drain, a
/// revocation or the admin API can reach each one.
///
/// Touched when a session opens, closes or refreshes its token, never per frame. Entries are
/// striped by event loop: sessions of one loop share a lock that only that loop and the (rare)
/// admin readers take, so opening and closing connections on different loops never contend.
final class SessionRegistry: Sendable {
    private struct Entry {
        let session: RelaySession
        var info: SharedSessionInfo
    }

    private static let stripes = 16
    private let shards: [NIOLockedValueBox<[ObjectIdentifier: Entry]>]
    private let live = ManagedAtomic<Int>(0)

    init() {
        shards = (0..<SessionRegistry.stripes).map { _ in NIOLockedValueBox([:]) }
    }

    private func shard(for eventLoop: EventLoop) -> NIOLockedValueBox<[ObjectIdentifier: Entry]> {
        let hash = UInt(bitPattern: ObjectIdentifier(eventLoop).hashValue)
        return shards[Int(hash % UInt(SessionRegistry.stripes))]
    }

    /// Registers a session that has started relaying.
    func add(_ session: RelaySession, info: SharedSessionInfo) {
        shard(for: session.eventLoop).withLockedValue { $0[ObjectIdentifier(session)] = Entry(session: session, info: info) }
        live.wrappingIncrement(ordering: .relaxed)
    }

    /// Forgets a session that ended.
    func remove(_ session: RelaySession) {
        let removed = shard(for: session.eventLoop).withLockedValue { $0.removeValue(forKey: ObjectIdentifier(session)) }
        if removed != nil { live.wrappingDecrement(ordering: .releasing) }
    }

    /// Replaces what is shown of a session (after a token refresh).
    func update(_ session: RelaySession, info: SharedSessionInfo) {
        shard(for: session.eventLoop).withLockedValue { entries in
            entries[ObjectIdentifier(session)]?.info = info
        }
    }

    /// Every live session.
    var all: [RelaySession] {
        shards.flatMap { $0.withLockedValue { $0.values.map(\.session) } }
    }

    /// The sessions (with what is shown of them) for which `include` holds.
    func sessions(where include: (SessionInfo) -> Bool) -> [(session: RelaySession, info: SessionInfo)] {
        var out: [(session: RelaySession, info: SessionInfo)] = []
        for shard in shards {
            shard.withLockedValue { entries in
                for entry in entries.values where include(entry.info.value) { out.append((entry.session, entry.info.value)) }
            }
        }
        return out
    }

    /// Live sessions.
    var count: Int { live.load(ordering: .acquiring) }
}
