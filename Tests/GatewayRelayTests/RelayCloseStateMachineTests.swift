import Testing

@testable import GatewayRelay

/// One test per transition of the relay's close choreography: the exact actions each event
/// returns, and that events which do not apply in a state change nothing.
@Suite struct RelayCloseStateMachineTests {
    typealias Machine = RelayCloseStateMachine
    typealias Close = RelayCloseStateMachine.CloseFrame

    static let expiredToClient = Close(code: 4001, reason: "token expired")
    static let expiredToUpstream = Close(code: 1000, reason: "token expired")
    static let tooBig = Close(code: 1009, reason: "message too big")
    static let goingAway = Close(code: 1001, reason: "going away")

    /// A machine the gateway has begun to end (token expiry) with the given boundaries.
    static func ending(boundaryTowardClient: Bool = true, boundaryTowardUpstream: Bool = true) -> Machine {
        var machine = Machine()
        _ = machine.endRequested(
            .tokenExpired, toClient: expiredToClient, toUpstream: expiredToUpstream,
            boundaryTowardClient: boundaryTowardClient, boundaryTowardUpstream: boundaryTowardUpstream
        )
        return machine
    }

    // MARK: - The gateway ends the connection

    @Test func endAtBoundariesSendsBothClosesAndStartsTheTimeout() {
        var machine = Machine()
        #expect(!machine.isEnding)
        let actions = machine.endRequested(
            .tokenExpired, toClient: Self.expiredToClient, toUpstream: Self.expiredToUpstream,
            boundaryTowardClient: true, boundaryTowardUpstream: true
        )
        #expect(actions == [
            .sendClose(Self.expiredToClient, to: .client),
            .sendClose(Self.expiredToUpstream, to: .upstream),
            .startCloseTimeout,
        ])
        #expect(machine.isEnding)
        #expect(!machine.isFinished)
        #expect(machine.endReason == .tokenExpired)
        #expect(!machine.forwardsFrames(from: .client))
        #expect(!machine.forwardsFrames(from: .upstream))
    }

    @Test func closeTowardClientMidFrameIsOwedUntilTheBackendsNextBoundary() {
        var machine = Machine()
        let actions = machine.endRequested(
            .revoked, toClient: Close(code: 4003, reason: "revoked"), toUpstream: Close(code: 4003, reason: "revoked"),
            boundaryTowardClient: false, boundaryTowardUpstream: true
        )
        #expect(actions == [.sendClose(Close(code: 4003, reason: "revoked"), to: .upstream), .startCloseTimeout])
        // The backend's frame in flight must finish before the close may follow it.
        #expect(machine.forwardsFrames(from: .upstream))
        #expect(!machine.forwardsFrames(from: .client))
        #expect(machine.chunkRelayed(from: .client, atBoundary: true) == nil)
        #expect(machine.chunkRelayed(from: .upstream, atBoundary: false) == nil)
        #expect(machine.chunkRelayed(from: .upstream, atBoundary: true) == .sendClose(Close(code: 4003, reason: "revoked"), to: .client))
        // Paid once: no second close frame (RFC 6455 §5.5.1), and nothing more flows.
        #expect(machine.chunkRelayed(from: .upstream, atBoundary: true) == nil)
        #expect(!machine.forwardsFrames(from: .upstream))
    }

    @Test func closeTowardUpstreamMidFrameIsOwedUntilTheClientsNextBoundary() {
        var machine = Self.ending(boundaryTowardClient: true, boundaryTowardUpstream: false)
        #expect(machine.forwardsFrames(from: .client))
        #expect(!machine.forwardsFrames(from: .upstream))
        #expect(machine.chunkRelayed(from: .upstream, atBoundary: true) == nil)
        #expect(machine.chunkRelayed(from: .client, atBoundary: false) == nil)
        #expect(machine.chunkRelayed(from: .client, atBoundary: true) == .sendClose(Self.expiredToUpstream, to: .upstream))
        #expect(machine.chunkRelayed(from: .client, atBoundary: true) == nil)
        #expect(!machine.forwardsFrames(from: .client))
    }

    /// The client's chunk ends the frame being waited for and carries the client's own close: that
    /// close is the backend's, and the gateway's owed one is not sent after it (two close frames);
    /// the other direction's debt is untouched.
    @Test func aCloseOwedIsVoidWhenTheSendersOwnCloseEndsTheWait() {
        var machine = Self.ending(boundaryTowardClient: false, boundaryTowardUpstream: false)
        #expect(machine.chunkRelayed(from: .client, atBoundary: true, senderCloseSeen: true) == nil)
        #expect(machine.chunkRelayed(from: .client, atBoundary: true) == nil)
        #expect(!machine.forwardsFrames(from: .client))
        #expect(machine.chunkRelayed(from: .upstream, atBoundary: true) == .sendClose(Self.expiredToClient, to: .client))
        var other = Self.ending(boundaryTowardClient: false, boundaryTowardUpstream: true)
        #expect(other.chunkRelayed(from: .upstream, atBoundary: true, senderCloseSeen: true) == nil)
        #expect(!other.forwardsFrames(from: .upstream))
    }

    @Test func bothClosesOwedArePaidIndependently() {
        var machine = Self.ending(boundaryTowardClient: false, boundaryTowardUpstream: false)
        #expect(machine.forwardsFrames(from: .client))
        #expect(machine.forwardsFrames(from: .upstream))
        #expect(machine.chunkRelayed(from: .client, atBoundary: true) == .sendClose(Self.expiredToUpstream, to: .upstream))
        #expect(machine.forwardsFrames(from: .upstream))
        #expect(machine.chunkRelayed(from: .upstream, atBoundary: true) == .sendClose(Self.expiredToClient, to: .client))
    }

    @Test(arguments: [RelayEndReason.revoked, .drain, .idleTimeout, .pingTimeout, .refreshedTokenExpired])
    func aSecondEndRequestIsIgnoredAndTheFirstReasonStands(second: RelayEndReason) {
        var machine = Self.ending()
        let actions = machine.endRequested(
            second, toClient: Self.goingAway, toUpstream: Self.goingAway, boundaryTowardClient: true, boundaryTowardUpstream: true
        )
        #expect(actions == [])
        #expect(machine.endReason == .tokenExpired)
    }

    @Test func anEndRequestAfterOneSideWentIsIgnored() {
        var machine = Machine()
        _ = machine.channelInactive(.client, closeSeen: true, boundaryTowardOther: true)
        let actions = machine.endRequested(
            .drain, toClient: Self.goingAway, toUpstream: Self.goingAway, boundaryTowardClient: true, boundaryTowardUpstream: true
        )
        #expect(actions == [])
        #expect(!machine.isEnding)
        #expect(machine.endReason == .closed)
    }

    // MARK: - Close replies and the timeout

    @Test(arguments: [RelaySide.client, .upstream])
    func whileEndingACloseFrameIsThatSidesReply(side: RelaySide) {
        let machine = Self.ending()
        #expect(machine.closeFrameSeen(from: side) == .closeAfterWrites(side))
    }

    @Test(arguments: [RelaySide.client, .upstream])
    func whileRelayingACloseFrameIsOnlyForwarded(side: RelaySide) {
        let machine = Machine()
        #expect(machine.closeFrameSeen(from: side) == nil)
        #expect(!machine.isEnding)
    }

    @Test func theCloseTimeoutClosesBothOnlyWhileEnding() {
        #expect(Machine().closeTimeoutFired() == nil)
        #expect(Self.ending().closeTimeoutFired() == .closeBoth)
        var finished = Self.ending()
        _ = finished.channelInactive(.client, closeSeen: true, boundaryTowardOther: true)
        _ = finished.channelInactive(.upstream, closeSeen: true, boundaryTowardOther: true)
        #expect(finished.closeTimeoutFired() == nil)
    }

    @Test func chunkEventsWhileRelayingDoNothing() {
        var machine = Machine()
        #expect(machine.chunkRelayed(from: .client, atBoundary: true) == nil)
        #expect(machine.chunkRelayed(from: .upstream, atBoundary: true) == nil)
        #expect(!machine.forwardsFrames(from: .client))
        #expect(!machine.forwardsFrames(from: .upstream))
    }

    // MARK: - A channel ends

    @Test(arguments: [RelaySide.client, .upstream])
    func aSideGoneAfterItsCloseFrameTakesTheOtherDown(side: RelaySide) {
        var machine = Machine()
        #expect(machine.channelInactive(side, closeSeen: true, boundaryTowardOther: true) == [.closeAfterWrites(side.other)])
        #expect(!machine.isEnding)
        #expect(machine.channelInactive(side.other, closeSeen: false, boundaryTowardOther: true) == [.finish(.closed)])
        #expect(machine.isFinished)
    }

    @Test func aClientGoneWithoutCloseIsGoingAwayToTheBackend() {
        var machine = Machine()
        #expect(machine.channelInactive(.client, closeSeen: false, boundaryTowardOther: true) == [
            .sendClose(Close(code: 1001, reason: "client gone"), to: .upstream),
            .closeAfterWrites(.upstream),
        ])
        #expect(machine.endReason == .clientGone)
        #expect(machine.channelInactive(.upstream, closeSeen: false, boundaryTowardOther: true) == [.finish(.clientGone)])
    }

    @Test func aBackendGoneWithoutCloseIs1011ToTheClient() {
        var machine = Machine()
        #expect(machine.channelInactive(.upstream, closeSeen: false, boundaryTowardOther: true) == [
            .sendClose(Close(code: 1011, reason: "upstream closed"), to: .client),
            .closeAfterWrites(.client),
        ])
        #expect(machine.endReason == .upstreamGone)
        #expect(machine.channelInactive(.client, closeSeen: false, boundaryTowardOther: true) == [.finish(.upstreamGone)])
    }

    @Test(arguments: [RelaySide.client, .upstream])
    func aSideGoneMidFrameGetsNoCloseFrameAfterIt(side: RelaySide) {
        // A close frame after half a frame would corrupt the other side's stream.
        var machine = Machine()
        #expect(machine.channelInactive(side, closeSeen: false, boundaryTowardOther: false) == [.closeAfterWrites(side.other)])
        #expect(machine.endReason == (side == .client ? .clientGone : .upstreamGone))
    }

    @Test(arguments: [RelaySide.client, .upstream])
    func theSameSideGoingTwiceIsIgnored(side: RelaySide) {
        var machine = Machine()
        _ = machine.channelInactive(side, closeSeen: false, boundaryTowardOther: true)
        #expect(machine.channelInactive(side, closeSeen: false, boundaryTowardOther: true) == [])
        #expect(!machine.isFinished)
        var ending = Self.ending()
        _ = ending.channelInactive(side, closeSeen: true, boundaryTowardOther: true)
        #expect(ending.channelInactive(side, closeSeen: true, boundaryTowardOther: true) == [])
        #expect(!ending.isFinished)
    }

    @Test func whileEndingASideGoneClosesTheOtherAndDropsTheCloseOwedToIt() {
        var machine = Self.ending(boundaryTowardClient: false, boundaryTowardUpstream: true)
        #expect(machine.forwardsFrames(from: .upstream))
        #expect(machine.channelInactive(.client, closeSeen: false, boundaryTowardOther: true) == [.closeAfterWrites(.upstream)])
        // The client can no longer be paid: the backend's frames stop flowing toward it.
        #expect(!machine.forwardsFrames(from: .upstream))
        #expect(machine.chunkRelayed(from: .upstream, atBoundary: true) == nil)
        #expect(machine.closeFrameSeen(from: .client) == nil)
        #expect(machine.closeFrameSeen(from: .upstream) == .closeAfterWrites(.upstream))
        #expect(machine.channelInactive(.upstream, closeSeen: true, boundaryTowardOther: true) == [.finish(.tokenExpired)])
        #expect(machine.isFinished)
        #expect(machine.isEnding)
    }

    // MARK: - Size violations

    @Test(arguments: [RelaySide.client, .upstream])
    func aSizeViolationSends1009ToTheSenderAnd1001ToTheOther(side: RelaySide) {
        var machine = Machine()
        let actions = machine.sizeViolation(from: side, senderCloseSeen: false, boundaryTowardOther: true, boundaryTowardSender: true)
        #expect(actions == [
            .sendClose(Self.tooBig, to: side),
            .sendClose(Self.goingAway, to: side.other),
            .closeAfterWrites(side),
            .closeAfterWrites(side.other),
        ])
        #expect(machine.endReason == .messageTooBig)
        #expect(machine.isEnding)
        #expect(!machine.forwardsFrames(from: .client))
        #expect(!machine.forwardsFrames(from: .upstream))
    }

    @Test func aSizeViolationAfterTheSendersCloseSendsNoSecondCloseToTheOther() {
        var machine = Machine()
        let actions = machine.sizeViolation(from: .client, senderCloseSeen: true, boundaryTowardOther: true, boundaryTowardSender: true)
        #expect(actions == [.sendClose(Self.tooBig, to: .client), .closeAfterWrites(.client), .closeAfterWrites(.upstream)])
    }

    @Test func aSizeViolationMidFrameSendsNoCloseIntoThatStream() {
        var toOther = Machine()
        #expect(toOther.sizeViolation(from: .upstream, senderCloseSeen: false, boundaryTowardOther: false, boundaryTowardSender: true) == [
            .sendClose(Self.tooBig, to: .upstream), .closeAfterWrites(.upstream), .closeAfterWrites(.client),
        ])
        var toSender = Machine()
        #expect(toSender.sizeViolation(from: .upstream, senderCloseSeen: false, boundaryTowardOther: true, boundaryTowardSender: false) == [
            .sendClose(Self.goingAway, to: .client), .closeAfterWrites(.upstream), .closeAfterWrites(.client),
        ])
    }

    @Test func aSizeViolationFromTheRemainingSideClosesOnlyIt() {
        var machine = Machine()
        _ = machine.channelInactive(.client, closeSeen: true, boundaryTowardOther: true)
        let actions = machine.sizeViolation(from: .upstream, senderCloseSeen: false, boundaryTowardOther: true, boundaryTowardSender: true)
        #expect(actions == [.sendClose(Self.tooBig, to: .upstream), .closeAfterWrites(.upstream)])
        #expect(machine.endReason == .messageTooBig)
        #expect(machine.channelInactive(.upstream, closeSeen: false, boundaryTowardOther: true) == [.finish(.messageTooBig)])
    }

    @Test func aSizeViolationWhileEndingOrFromAGoneSideIsIgnored() {
        var ending = Self.ending()
        #expect(ending.sizeViolation(from: .client, senderCloseSeen: false, boundaryTowardOther: true, boundaryTowardSender: true) == [])
        #expect(ending.endReason == .tokenExpired)
        var halfClosed = Machine()
        _ = halfClosed.channelInactive(.client, closeSeen: true, boundaryTowardOther: true)
        #expect(halfClosed.sizeViolation(from: .client, senderCloseSeen: false, boundaryTowardOther: true, boundaryTowardSender: true) == [])
        #expect(halfClosed.endReason == .closed)
    }

    // MARK: - Finished

    @Test func everyEventAfterTheEndIsIgnored() {
        var machine = Machine()
        _ = machine.channelInactive(.upstream, closeSeen: true, boundaryTowardOther: true)
        _ = machine.channelInactive(.client, closeSeen: true, boundaryTowardOther: true)
        #expect(machine.isFinished)
        #expect(machine.endRequested(.drain, toClient: Self.goingAway, toUpstream: Self.goingAway, boundaryTowardClient: true, boundaryTowardUpstream: true) == [])
        #expect(machine.sizeViolation(from: .client, senderCloseSeen: false, boundaryTowardOther: true, boundaryTowardSender: true) == [])
        #expect(machine.channelInactive(.client, closeSeen: false, boundaryTowardOther: true) == [])
        #expect(machine.channelInactive(.upstream, closeSeen: false, boundaryTowardOther: true) == [])
        #expect(machine.chunkRelayed(from: .client, atBoundary: true) == nil)
        #expect(machine.closeFrameSeen(from: .client) == nil)
        #expect(machine.closeTimeoutFired() == nil)
        #expect(machine.endReason == .closed)
    }

    /// The end reasons are the "connection closed" log line's `end` values, which operators and
    /// the interop suite read: spelled exactly.
    @Test func endReasonsKeepTheirLogSpelling() {
        #expect(RelayEndReason.allCases.map(\.rawValue) == [
            "closed", "revoked", "drain", "token_expired", "refreshed_token_expired", "idle_timeout", "ping_timeout",
            "client_gone", "upstream_gone", "message_too_big",
        ])
    }
}
