import GatewayHandshake
import GatewayServer
import Testing

/// The cluster bus's pure half: which events are applied (each revocation once, lifts never
/// undone by a late revocation) and where the next poll starts (below the oldest gap, because a
/// sequence hands out ids before commit).
@Suite struct ClusterEventLogTests {
    static func revocation(_ n: Int, until: Double = 1000) -> Revocation {
        Revocation(id: String(repeating: String(n % 10), count: 32), kind: .subject, value: "user-\(n)", until: until, reason: "r", createdAt: 1)
    }

    static func event(_ id: Int64, _ n: Int, lifted: Bool = false, until: Double = 1000) -> ClusterEvent {
        ClusterEvent(eventID: id, revocation: revocation(n, until: until), lifted: lifted)
    }

    @Test func appliesEachEventOnceWhicheverWayItArrives() {
        var log = ClusterEventLog()
        #expect(log.receive([Self.event(1, 1), Self.event(2, 2)], now: 10) == [.enforce(Self.revocation(1)), .enforce(Self.revocation(2))])
        #expect(log.watermark == 2 && log.pollAfter == 2)
        // The same rows again (a NOTIFY and a poll both brought them): nothing to do.
        #expect(log.receive([Self.event(2, 2), Self.event(1, 1)], now: 11) == [])
        // Out of order within one batch: applied in id order.
        #expect(log.receive([Self.event(4, 4), Self.event(3, 3)], now: 12) == [.enforce(Self.revocation(3)), .enforce(Self.revocation(4))])
    }

    @Test func aMissingIDIsPolledAgainUntilItCommitsOrPatienceRunsOut() {
        var log = ClusterEventLog(gapPatience: 10)
        _ = log.receive([Self.event(1, 1)], now: 100)
        // 3 committed before 2: the next poll starts after 1, not after 3.
        #expect(log.receive([Self.event(3, 3)], now: 100) == [.enforce(Self.revocation(3))])
        #expect(log.watermark == 3 && log.pollAfter == 1 && log.gapCount == 1)
        // 2 commits: applied, and the poll moves past it.
        #expect(log.receive([Self.event(2, 2), Self.event(3, 3)], now: 101) == [.enforce(Self.revocation(2))])
        #expect(log.pollAfter == 3 && log.gapCount == 0)
        // 5 arrives, 4 never does (a rolled-back insert): waited for until patience runs out.
        _ = log.receive([Self.event(5, 5)], now: 200)
        log.prune(now: 209.9)
        #expect(log.pollAfter == 3)
        log.prune(now: 210)
        #expect(log.pollAfter == 5 && log.gapCount == 0)
    }

    @Test func aLiftIsNeverUndoneByItsRevocationArrivingLate() {
        var log = ClusterEventLog()
        _ = log.receive([Self.event(1, 1)], now: 10)
        // The lift (id 3) is seen before the revocation (id 2) fills the gap.
        #expect(log.receive([Self.event(3, 7, lifted: true)], now: 10) == [.lift(Self.revocation(7).id)])
        #expect(log.receive([Self.event(2, 7)], now: 10) == [])
        // A second lift of the same revocation does nothing more.
        #expect(log.receive([Self.event(4, 7, lifted: true)], now: 10) == [])
    }

    @Test func whatThisInstanceWroteIsNotAppliedAgainAndAFailedWriteIsForgotten() {
        var log = ClusterEventLog()
        log.expect(Self.revocation(1))
        #expect(log.receive([Self.event(1, 1)], now: 10) == [])
        log.expectLift(Self.revocation(1))
        #expect(log.receive([Self.event(2, 1, lifted: true)], now: 10) == [])
        // A write that failed: the event, should it appear after all, is applied.
        log.expect(Self.revocation(2))
        log.forget(Self.revocation(2), lift: false)
        #expect(log.receive([Self.event(3, 2)], now: 10) == [.enforce(Self.revocation(2))])
    }

    @Test func startLoadsWithoutWaitingForDeletedRowsAndSkipsExpiredOnes() {
        var log = ClusterEventLog()
        // Rows 1–40 were pruned; 41 is in force, 42 expired at 50, the highest id is 43 (a lift).
        let actions = log.load([Self.event(41, 1), Self.event(42, 2, until: 50), Self.event(43, 3, lifted: true)], highestID: 43, now: 60)
        #expect(actions == [.enforce(Self.revocation(1)), .lift(Self.revocation(3).id)])
        #expect(log.pollAfter == 43 && log.gapCount == 0)
    }

    @Test func aLargeJumpTracksOnlyTheNewestMissingIDs() {
        var log = ClusterEventLog()
        _ = log.receive([Self.event(1, 1)], now: 10)
        _ = log.receive([Self.event(5000, 2)], now: 10)
        #expect(log.gapCount == 1000)
        #expect(log.pollAfter == 3999)
    }

    @Test func anInstanceIsLiveUntilItsHeartbeatIsAgeOutOld() {
        let instance = ClusterInstance(name: "gw-1", adminURL: "http://127.0.0.1:9090", startedAt: 0, heartbeatAt: 100)
        let ageOut = ClusterConfiguration(postgres: try! PostgresURL(parsing: "postgres://u@h/d"), pollIntervalSeconds: 1).instanceAgeOutSeconds
        #expect(ageOut == 10)
        #expect(instance.isLive(now: 109.999, ageOut: ageOut))
        #expect(!instance.isLive(now: 110, ageOut: ageOut))
        // A slow poll interval stretches it: three missed heartbeats.
        #expect(ClusterConfiguration(postgres: try! PostgresURL(parsing: "postgres://u@h/d"), pollIntervalSeconds: 5).instanceAgeOutSeconds == 15)
    }

    @Test func theSchemaScriptIsOneTransactionOfIdempotentStatementsAtVersionOne() {
        let script = ClusterSchema.script
        #expect(script.hasPrefix("-- wsgate cluster schema, version 1\nBEGIN;\n"))
        #expect(script.hasSuffix("COMMIT;\n"))
        for statement in ClusterSchema.statements {
            #expect(statement.contains("IF NOT EXISTS") || statement.contains("ON CONFLICT (version) DO NOTHING"), "\(statement)")
        }
        #expect(script.contains("INSERT INTO wsgate_schema (version) VALUES (1)"))
    }

    static func sessionRevocation(digests: [String]) -> Revocation {
        Revocation(id: String(repeating: "a", count: 32), kind: .session, value: "s-1", until: 1000, reason: "r", createdAt: 1, tokenDigests: digests)
    }

    /// A `session` revocation in force comes again only as an amendment with more token digests
    /// (the instance holding the session adds its token's); the same amendment twice, a stale
    /// copy with fewer digests, or an amendment after the lift changes nothing.
    @Test func anAmendmentWithTokenDigestsIsAppliedOnce() {
        var log = ClusterEventLog()
        let bare = Self.sessionRevocation(digests: [])
        let amended = Self.sessionRevocation(digests: ["d1"])
        #expect(log.receive([ClusterEvent(eventID: 1, revocation: bare, lifted: false)], now: 10) == [.enforce(bare)])
        #expect(log.receive([ClusterEvent(eventID: 2, revocation: amended, lifted: false)], now: 11) == [.enforce(amended)])
        #expect(log.receive([ClusterEvent(eventID: 2, revocation: amended, lifted: false)], now: 12) == [])
        #expect(log.receive([ClusterEvent(eventID: 3, revocation: amended, lifted: false)], now: 12) == [])
        #expect(log.receive([ClusterEvent(eventID: 4, revocation: bare, lifted: false)], now: 12) == [])
        #expect(log.receive([ClusterEvent(eventID: 5, revocation: amended, lifted: true)], now: 13) == [.lift(amended.id)])
        let later = Self.sessionRevocation(digests: ["d1", "d2"])
        #expect(log.receive([ClusterEvent(eventID: 6, revocation: later, lifted: false)], now: 14) == [])
    }

    /// Two instances each holding a session of that id (a client's own X-Request-Id can repeat)
    /// each add their token's digest: every amendment with a digest not known yet is applied,
    /// whichever comes first, so every instance ends up refusing both tokens.
    @Test func amendmentsFromTwoInstancesAreBothApplied() {
        var log = ClusterEventLog()
        let bare = Self.sessionRevocation(digests: [])
        let fromB = Self.sessionRevocation(digests: ["d1"])
        let fromC = Self.sessionRevocation(digests: ["d2"])
        #expect(log.receive([ClusterEvent(eventID: 1, revocation: bare, lifted: false)], now: 10) == [.enforce(bare)])
        #expect(log.receive([ClusterEvent(eventID: 3, revocation: fromC, lifted: false)], now: 11) == [.enforce(fromC)])
        #expect(log.receive([ClusterEvent(eventID: 2, revocation: fromB, lifted: false)], now: 11) == [.enforce(fromB)])
        let both = Self.sessionRevocation(digests: ["d2", "d1"])
        #expect(log.receive([ClusterEvent(eventID: 4, revocation: both, lifted: false)], now: 12) == [])
    }

    /// The instance that writes the amendment applied it already: its own event is not applied again.
    @Test func theAmendingInstanceDoesNotApplyItsOwnAmendmentTwice() {
        var log = ClusterEventLog()
        let bare = Self.sessionRevocation(digests: [])
        let amended = Self.sessionRevocation(digests: ["d1"])
        #expect(log.receive([ClusterEvent(eventID: 1, revocation: bare, lifted: false)], now: 10) == [.enforce(bare)])
        log.expect(amended)
        #expect(log.receive([ClusterEvent(eventID: 2, revocation: amended, lifted: false)], now: 11) == [])
    }
}
