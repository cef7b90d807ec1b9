/// The close choreography of one relayed WebSocket connection, as a value: events in, actions
/// out. It owns no channel and no clock; `RelaySession` feeds it what the relays and timers saw
/// and carries out the actions it returns. Model: SwiftNIO's
/// `NIOTypedHTTPServerUpgraderStateMachine`.
///
/// The rules it encodes (RFC 6455 §5.5.1, §7.1):
/// - A close frame of the gateway's own may only go out between frames of that direction; until
///   the stream reaches a boundary it is owed, and frames keep flowing up to that boundary.
/// - Each side gets at most one close frame: none when it already had its close from the peer.
/// - Toward the client the gateway is the server, which closes TCP first (half-close, so the
///   client's close reply is read rather than answered with a reset); toward the backend it waits.
/// - A side whose channel ends takes the other down after its pending writes.
///
/// The events that can come once per chunk (`chunkRelayed`, `closeFrameSeen`) return at most one
/// action and never allocate; the others are once per connection.
package struct RelayCloseStateMachine {
    /// A close frame's status code and reason (RFC 6455 §5.5.1; the reason is cut to 123 bytes
    /// when the frame is written).
    package struct CloseFrame: Equatable, Sendable {
        /// The status code (RFC 6455 §7.4).
        package var code: UInt16
        /// A short UTF-8 reason.
        package var reason: String

        /// A close frame with `code` and `reason`.
        package init(code: UInt16, reason: String) {
            self.code = code
            self.reason = reason
        }
    }

    /// What the session does next.
    package enum Action: Equatable, Sendable {
        /// Write this close frame to `side` now (its direction is between frames) and flush.
        case sendClose(CloseFrame, to: RelaySide)
        /// Close `side` once what was written to it is out: a half-close toward the client, a
        /// full close toward the backend.
        case closeAfterWrites(RelaySide)
        /// Stop the idle and keep-alive checks, and give the close replies two seconds
        /// (`closeTimeoutFired` after that).
        case startCloseTimeout
        /// Close both channels now: the close replies did not come in time.
        case closeBoth
        /// Both channels are gone: release the slots and log the end with this reason.
        case finish(RelayEndReason)
    }

    private enum State {
        /// Frames flow both ways; nothing has begun to end the connection.
        case relaying
        /// `gone`'s channel ended while relaying; the other side closes once its writes are out.
        case halfClosed(gone: RelaySide)
        /// The gateway is ending the connection (its own close, or a size violation).
        case ending(Ending)
        /// Both channels are gone; every event is ignored.
        case finished
    }

    private struct Ending {
        /// Close frames waiting for a frame boundary in that direction.
        var owedToClient: CloseFrame?
        var owedToUpstream: CloseFrame?
        /// The side whose channel has ended already, if any.
        var gone: RelaySide?
    }

    private var state = State.relaying

    /// Why the connection ended (or will): the first reason that applied.
    package private(set) var endReason = RelayEndReason.closed

    /// A machine for a connection whose two channels are both open.
    package init() {}

    /// The gateway is ending the connection (or has ended it): frames flow only toward a side
    /// still owed a close frame.
    package var isEnding: Bool {
        switch state {
        case .ending, .finished: return true
        case .relaying, .halfClosed: return false
        }
    }

    /// Both channels are gone.
    package var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// While ending: whether frames from `side` must still be forwarded, because the close frame
    /// owed to the other side waits for their next boundary.
    package func forwardsFrames(from side: RelaySide) -> Bool {
        guard case .ending(let ending) = state else { return false }
        return side == .upstream ? ending.owedToClient != nil : ending.owedToUpstream != nil
    }

    // MARK: - Events

    /// The gateway decided to end the connection (token expiry, revocation, drain, idle or ping
    /// timeout): `toClient` and `toUpstream` go out at once where that direction is between
    /// frames (`boundaryTowardClient`: the backend's stream, `boundaryTowardUpstream`: the
    /// client's), and are owed otherwise. Ignored once anything else began the end: the first
    /// reason stands, and no side gets a second close frame.
    package mutating func endRequested(
        _ reason: RelayEndReason, toClient: CloseFrame, toUpstream: CloseFrame,
        boundaryTowardClient: Bool, boundaryTowardUpstream: Bool
    ) -> [Action] {
        guard case .relaying = state else { return [] }
        endReason = reason
        state = .ending(Ending(
            owedToClient: boundaryTowardClient ? nil : toClient,
            owedToUpstream: boundaryTowardUpstream ? nil : toUpstream,
            gone: nil
        ))
        var actions: [Action] = []
        if boundaryTowardClient { actions.append(.sendClose(toClient, to: .client)) }
        if boundaryTowardUpstream { actions.append(.sendClose(toUpstream, to: .upstream)) }
        actions.append(.startCloseTimeout)
        return actions
    }

    /// `sender` exceeded a frame or message size limit: 1009 to it, 1001 to the other side, and
    /// both close after their writes (RFC 6455 §7.4.1).
    ///
    /// - Parameters:
    ///   - senderCloseSeen: the sender's own close frame already went through (a violation can
    ///     follow it in one read): the other side has its close, and a second one would break
    ///     RFC 6455 §5.5.1.
    ///   - boundaryTowardOther: the sender's stream stops at a frame boundary (the oversize
    ///     frame's header began in this chunk and none of it was forwarded).
    ///   - boundaryTowardSender: the other side's stream toward the sender is between frames.
    package mutating func sizeViolation(
        from sender: RelaySide, senderCloseSeen: Bool, boundaryTowardOther: Bool, boundaryTowardSender: Bool
    ) -> [Action] {
        let gone: RelaySide?
        switch state {
        case .relaying: gone = nil
        case .halfClosed(let side): gone = side
        case .ending, .finished: return []  // the relays stop examining frames once ending
        }
        guard gone != sender else { return [] }  // a gone side sends nothing more
        endReason = .messageTooBig
        state = .ending(Ending(owedToClient: nil, owedToUpstream: nil, gone: gone))
        var actions: [Action] = []
        if boundaryTowardSender { actions.append(.sendClose(CloseFrame(code: 1009, reason: "message too big"), to: sender)) }
        if gone == nil {
            if boundaryTowardOther && !senderCloseSeen {
                actions.append(.sendClose(CloseFrame(code: 1001, reason: "going away"), to: sender.other))
            }
        }
        actions.append(.closeAfterWrites(sender))
        if gone == nil { actions.append(.closeAfterWrites(sender.other)) }
        return actions
    }

    /// `side`'s channel went inactive. `closeSeen`: a close frame came from it before;
    /// `boundaryTowardOther`: its stream stopped between frames, so a close frame of the
    /// gateway's may follow.
    package mutating func channelInactive(_ side: RelaySide, closeSeen: Bool, boundaryTowardOther: Bool) -> [Action] {
        switch state {
        case .relaying:
            state = .halfClosed(gone: side)
            if closeSeen { return [.closeAfterWrites(side.other)] }
            // Gone without a close frame: the client vanishing is "going away" (1001) to the
            // backend; the backend vanishing mid-stream is an unexpected condition (1011) to the
            // client (RFC 6455 §7.4.1).
            let close: CloseFrame
            switch side {
            case .client:
                endReason = .clientGone
                close = CloseFrame(code: 1001, reason: "client gone")
            case .upstream:
                endReason = .upstreamGone
                close = CloseFrame(code: 1011, reason: "upstream closed")
            }
            guard boundaryTowardOther else { return [.closeAfterWrites(side.other)] }
            return [.sendClose(close, to: side.other), .closeAfterWrites(side.other)]
        case .halfClosed(let gone):
            guard gone != side else { return [] }
            state = .finished
            return [.finish(endReason)]
        case .ending(var ending):
            if ending.gone == side { return [] }
            if ending.gone == side.other {
                state = .finished
                return [.finish(endReason)]
            }
            // A close owed to a gone side can never be paid: stop forwarding toward it.
            if side == .client { ending.owedToClient = nil } else { ending.owedToUpstream = nil }
            ending.gone = side
            state = .ending(ending)
            return [.closeAfterWrites(side.other)]
        case .finished:
            return []
        }
    }

    /// A chunk from `side` was forwarded while ending; `atBoundary`: `side`'s stream is now
    /// between frames. Pays the close frame owed to the other side once it may go out, unless
    /// `senderCloseSeen`: `side`'s own close frame went through (in this chunk, right after the
    /// frame that was being waited for), so the other side has its close and a second one would
    /// break RFC 6455 §5.5.1; the debt is void.
    package mutating func chunkRelayed(from side: RelaySide, atBoundary: Bool, senderCloseSeen: Bool = false) -> Action? {
        guard atBoundary, case .ending(var ending) = state else { return nil }
        switch side {
        case .upstream:
            guard let owed = ending.owedToClient else { return nil }
            ending.owedToClient = nil
            state = .ending(ending)
            return senderCloseSeen ? nil : .sendClose(owed, to: .client)
        case .client:
            guard let owed = ending.owedToUpstream else { return nil }
            ending.owedToUpstream = nil
            state = .ending(ending)
            return senderCloseSeen ? nil : .sendClose(owed, to: .upstream)
        }
    }

    /// A close frame from `side` finished. While ending it is that side's reply: the side closes
    /// after its writes. While relaying it is forwarded like any frame and needs nothing here.
    package func closeFrameSeen(from side: RelaySide) -> Action? {
        guard case .ending(let ending) = state, ending.gone != side else { return nil }
        return .closeAfterWrites(side)
    }

    /// The close timeout started by `.startCloseTimeout` fired.
    package func closeTimeoutFired() -> Action? {
        guard case .ending = state else { return nil }
        return .closeBoth
    }
}
