import GatewayHandshake
/// Which revocation events this instance has applied, and where its next poll starts: the pure
/// half of the cluster bus, given `now` rather than reading a clock.
///
/// Event ids come from a sequence, which hands out numbers before commit: a writer may commit
/// id 7 after another's id 8 is already visible. A poll that jumps the watermark to 8 would skip
/// 7 for ever, so ids missing below the watermark are kept as gaps and polled again (the next
/// poll starts below the oldest gap) for `gapPatience` seconds; a gap that never fills was a
/// rolled-back insert. Each revocation is applied once, whether it arrives by NOTIFY, by a poll
/// or twice by both, and a lift is remembered (until the revocation would have ended) so a
/// revocation that arrives after its lift (a filled gap) is not brought back.
public struct ClusterEventLog: Sendable {
    /// What the instance does with the events it received.
    public enum Action: Sendable, Equatable {
        /// Put the revocation in force: add it for handshakes and close matching live sessions.
        /// Comes again for a revocation already in force when an instance has amended it with
        /// token digests it lacked (a `session` revocation made where the session was not).
        case enforce(Revocation)
        /// Lift the revocation with this id.
        case lift(String)
    }

    /// The highest event id received.
    public private(set) var watermark: Int64 = 0
    /// Ids below the watermark not received yet, and when they were first missed.
    private var gaps: [Int64: Double] = [:]
    /// Revocation ids in force here, with their `until`.
    private var applied: [String: Double] = [:]
    /// The token digests known for each revocation in force here, by id (amendments add some).
    private var appliedDigests: [String: Set<String>] = [:]
    /// Lifted revocation ids, with the `until` of the revocation lifted.
    private var liftedIDs: [String: Double] = [:]
    /// How long a missing id is polled for before it counts as rolled back.
    public let gapPatience: Double
    /// At most this many missing ids are tracked per jump (only the newest can still commit: a
    /// larger jump is old rows already deleted, or a burst of rolled-back inserts).
    static let maxGapsPerJump: Int64 = 1000

    /// An empty log.
    public init(gapPatience: Double = 10) {
        self.gapPatience = gapPatience
    }

    /// The id after which the next poll reads (`event_id > pollAfter`): below the oldest gap.
    public var pollAfter: Int64 { gaps.keys.min().map { $0 - 1 } ?? watermark }

    /// Missing ids being waited for.
    public var gapCount: Int { gaps.count }

    /// At start: every unexpired event, and the highest id in the table, so nothing older is
    /// waited for (rows deleted as expired leave holes that are not gaps).
    public mutating func load(_ events: [ClusterEvent], highestID: Int64, now: Double) -> [Action] {
        let actions = receive(events, now: now, trackGaps: false)
        watermark = max(watermark, highestID)
        return actions
    }

    /// Events from a poll or a notification, in any order and possibly seen before: returns what
    /// to do, each revocation once.
    public mutating func receive(_ events: [ClusterEvent], now: Double) -> [Action] {
        receive(events, now: now, trackGaps: true)
    }

    private mutating func receive(_ events: [ClusterEvent], now: Double, trackGaps: Bool) -> [Action] {
        var actions: [Action] = []
        for event in events.sorted(by: { $0.eventID < $1.eventID }) {
            if event.eventID > watermark {
                if trackGaps {
                    let first = max(watermark + 1, event.eventID - ClusterEventLog.maxGapsPerJump)
                    for missing in first..<event.eventID { gaps[missing] = now }
                }
                watermark = event.eventID
            } else if gaps.removeValue(forKey: event.eventID) == nil {
                continue  // already received
            }
            let revocation = event.revocation
            if event.lifted {
                guard liftedIDs[revocation.id] == nil else { continue }
                liftedIDs[revocation.id] = revocation.until
                applied[revocation.id] = nil
                appliedDigests[revocation.id] = nil
                actions.append(.lift(revocation.id))
            } else {
                guard liftedIDs[revocation.id] == nil, revocation.until > now else { continue }
                if applied[revocation.id] != nil {
                    // In force already: only an amendment with a token digest not known yet matters
                    // (instances holding sessions of that id may each add their own).
                    guard !Set(revocation.tokenDigests).isSubset(of: appliedDigests[revocation.id, default: []]) else { continue }
                }
                applied[revocation.id] = revocation.until
                appliedDigests[revocation.id, default: []].formUnion(revocation.tokenDigests)
                actions.append(.enforce(revocation))
            }
        }
        return actions
    }

    /// This instance is about to write a revocation (it enforces it itself): the event that comes
    /// back by NOTIFY or poll is then not applied a second time.
    public mutating func expect(_ revocation: Revocation) {
        applied[revocation.id] = revocation.until
        appliedDigests[revocation.id, default: []].formUnion(revocation.tokenDigests)
    }

    /// This instance is about to write a lift of `revocation` (it lifts it itself).
    public mutating func expectLift(_ revocation: Revocation) {
        liftedIDs[revocation.id] = revocation.until
        applied[revocation.id] = nil
        appliedDigests[revocation.id] = nil
    }

    /// The write announced by `expect` or `expectLift` failed: forget it.
    public mutating func forget(_ revocation: Revocation, lift: Bool) {
        if lift {
            liftedIDs[revocation.id] = nil
            applied[revocation.id] = revocation.until
        } else {
            applied[revocation.id] = nil
            appliedDigests[revocation.id] = nil
        }
    }

    /// Drops what no longer matters at `now`: ended revocations and lifts, gaps waited for long enough.
    public mutating func prune(now: Double) {
        applied = applied.filter { $0.value > now }
        appliedDigests = appliedDigests.filter { applied[$0.key] != nil }
        liftedIDs = liftedIDs.filter { $0.value > now }
        gaps = gaps.filter { now - $0.value < gapPatience }
    }
}
