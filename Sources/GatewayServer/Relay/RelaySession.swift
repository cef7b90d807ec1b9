import GatewayAuth
import GatewayRelay
import Logging
import NIOCore

/// One relayed WebSocket connection: the client channel, the upstream channel, a relay handler
/// on each, and the close choreography between them. Lives on the one event loop both channels
/// share; nothing here is touched from another thread.
final class RelaySession {
    /// One of the connection's two channels.
    typealias Side = RelaySide

    private let runtime: GatewayRuntime
    private let snapshot: GatewaySnapshot
    let route: CompiledRoute
    /// The client side (internal for tests).
    let clientChannel: Channel
    private let upstreamChannel: Channel
    /// What the admin API shows and revocations match (claims of the current token); the
    /// registry holds the same object.
    private var shared: SharedSessionInfo
    var info: SessionInfo { shared.value }
    private var clientAddress: String { info.client }
    private var subject: String? { info.subject }
    /// The admission slots this connection holds (the route's, and the subject's when subjects are
    /// capped), taken over from the handshake's `AdmissionSlots` and released at the end. Kept as
    /// the subject alone (the route's slot is `route.label`): the handshake's object, an
    /// allocation of its own, is not kept for the session's life.
    private let admissionSubject: String?
    private var holdsAdmission = true
    let clientRelay: RelayHandler
    let upstreamRelay: RelayHandler
    private let openedAt = NIODeadline.now()

    // One timer per connection. Token expiry, the idle check, the keep-alive ping and the
    // close deadline are deadlines; a single scheduled callback (no closure, no promise) fires at
    // the earliest and re-arms for the next. An idle connection thus holds one entry in the event
    // loop's timer queue instead of three, and closing it cancels one.
    @PackedDeadline private var expiryAt: NIODeadline?
    @PackedDeadline private var idleCheckAt: NIODeadline?
    @PackedDeadline private var keepaliveAt: NIODeadline?
    @PackedDeadline private var terminateAt: NIODeadline?
    private var timer: NIOScheduledCallback?
    @PackedDeadline private var timerAt: NIODeadline?
    private var keepaliveSnapshot: UInt64 = 0
    private var unansweredPings = 0
    private var idleSnapshot: (UInt64, UInt64) = (0, 0)
    /// The close choreography: which side is gone, which close frames are owed, the end reason.
    private var closing = RelayCloseStateMachine()
    /// Set once the gateway has decided to end the connection; relays stop forwarding.
    var terminating: Bool { closing.isEnding }

    // Token refresh on the open socket (routes with `token_refresh` only).
    /// `exp` - `notify_before`: when to send `wsgate.token_expiring`.
    @PackedDeadline private var notifyAt: NIODeadline?
    /// The values the route's injected headers got at the handshake (a refresh must keep them).
    private var injectedHeaderValues: [String?] = []
    /// The token was replaced at least once (for the connection log's end reason).
    private var refreshed = false
    /// Messages of the gateway's own for the client, waiting for a frame boundary of the backend's.
    private var pendingToClient: [ByteBuffer] = []

    init(
        runtime: GatewayRuntime, snapshot: GatewaySnapshot, route: CompiledRoute, client: Channel,
        upstream: Channel, info: SessionInfo, slots: AdmissionSlots
    ) {
        self.runtime = runtime
        self.snapshot = snapshot
        self.route = route
        self.clientChannel = client
        self.upstreamChannel = upstream
        self.shared = SharedSessionInfo(info)
        self.admissionSubject = slots.subject
        let limits = snapshot.configuration.limits
        self.clientRelay = RelayHandler(side: .client, maxFrameBytes: limits.maxFrameBytes, maxMessageBytes: limits.maxMessageBytes)
        self.upstreamRelay = RelayHandler(side: .upstream, maxFrameBytes: limits.maxFrameBytes, maxMessageBytes: limits.maxMessageBytes)
        if route.route.tokenRefresh != nil {
            clientRelay.interceptor = InterceptorBox(RefreshInterceptor(maxMessageBytes: snapshot.configuration.auth.maxTokenBytes + 1024))
        }
        clientRelay.session = self
        upstreamRelay.session = self
        clientRelay.partner = upstreamRelay
        upstreamRelay.partner = clientRelay
    }

    /// Adds the relays, then removes the handshake handlers (decoders last, so their buffered
    /// bytes go straight into the relays).
    func install(
        clientPipeline: ChannelPipeline.SynchronousOperations,
        upstreamPipeline: ChannelPipeline.SynchronousOperations,
        removing: (client: [RemovableChannelHandler], upstream: [RemovableChannelHandler])
    ) throws {
        try clientPipeline.addHandler(clientRelay)
        try upstreamPipeline.addHandler(upstreamRelay)
        // A decoder hands its buffered bytes over when it is removed, which may happen after this
        // call returns and outside any read batch: flush the receiving side once removal is done.
        remove(removing.upstream, from: upstreamPipeline, thenFlush: clientRelay)
        remove(removing.client, from: clientPipeline, thenFlush: upstreamRelay)
    }

    /// Removes `handlers` in order, then flushes `relay`. A ByteToMessageHandler leaves on the
    /// next event-loop tick and hands its buffered bytes over then, outside any read batch, so
    /// the flush waits for the last removal (the decoder is last in the list); the others leave
    /// at once and need no promise of their own.
    private func remove(_ handlers: [RemovableChannelHandler], from pipeline: ChannelPipeline.SynchronousOperations, thenFlush relay: RelayHandler) {
        let contexts = handlers.compactMap { try? pipeline.context(handler: $0) }
        guard let last = contexts.last else {
            relay.flush()
            return
        }
        for context in contexts.dropLast() {
            pipeline.removeHandler(context: context, promise: nil)
        }
        let eventLoop = clientChannel.eventLoop
        let removed = eventLoop.makePromise(of: Void.self)
        pipeline.removeHandler(context: last, promise: removed)
        let bound = NIOLoopBound(relay, eventLoop: eventLoop)
        removed.futureResult.whenComplete { _ in bound.value.flush() }
    }

    /// Starts the timers and registers the session for drains. `injectedHeaderValues`: what the
    /// route's claim headers were set to (kept for token refresh).
    func start(expiry: TimeAmount?, injectedHeaderValues: [String?] = []) {
        let now = NIODeadline.now()
        self.injectedHeaderValues = injectedHeaderValues
        if let expiry { expiryAt = now + expiry }
        if route.route.tokenRefresh != nil { scheduleExpiry(now: now) }
        let limits = snapshot.configuration.limits
        if limits.idleTimeout.nanoseconds > 0 { idleCheckAt = now + limits.idleTimeout }
        if let interval = limits.keepaliveInterval, interval.nanoseconds > 0 { keepaliveAt = now + interval }
        armTimer()
        runtime.registry.add(self, info: shared)
        route.metrics.connectionOpened()
        // Values that are strings already go in as they are (`.string`), not through an
        // interpolation that copies them.
        runtime.logger.info("connection opened", metadata: [
            "route": .string(route.label), "client": .string(clientAddress), "sub": .string(subject ?? "-"), "session": .string(info.id),
        ])
        // A revocation made while this handshake was in flight found no session to close and its
        // sweep may have missed this one: check again now that the session is registered.
        let revocations = runtime.revocations.current
        if !revocations.isEmpty, let revocation = revocations.match(info, now: runtime.now) {
            endRevoked(reason: revocation.reason)
        }
        // Likewise a drain that began while this handshake was in flight: its sweep of the
        // registry came before this session was in it (the registry's lock orders the flag).
        if runtime.draining.load(ordering: .relaxed) {
            drain(code: 1001, reason: "going away")
        }
        // Either side may already be gone by now.
        if !clientChannel.isActive { sideInactive(.client) }
        if !upstreamChannel.isActive { sideInactive(.upstream) }
    }

    /// The event loop both channels and every use of the session share.
    var eventLoop: EventLoop { clientChannel.eventLoop }

    /// Ends the session because an operator revoked it: close 4003 with `reason` to both sides at
    /// the next frame boundary (SESSIONS.md); callable from any thread.
    func revoke(reason: String) {
        clientChannel.eventLoop.execute { self.endRevoked(reason: reason) }
    }

    private func endRevoked(reason: String) {
        let close = RelayCloseStateMachine.CloseFrame(code: 4003, reason: reason)
        if end(.revoked, toClient: close, toUpstream: close) {
            route.metrics.sessionRevoked()
        }
    }

    /// Asks the session to end with `code` toward the client (a drain); callable from any thread.
    /// With a `delay`, the close is scheduled on the session's own event loop (a spread drain:
    /// no thread sleeps, and a session that ends sooner by itself makes it a no-op).
    func drain(code: UInt16, reason: String, after delay: TimeAmount = .zero) {
        let loop = clientChannel.eventLoop
        let start: @Sendable () -> Void = {
            _ = self.end(.drain, toClient: .init(code: code, reason: reason), toUpstream: .init(code: 1001, reason: reason))
        }
        if delay > .zero {
            loop.scheduleTask(in: delay) {
                guard !self.terminating else { return }
                start()
            }
        } else {
            loop.execute(start)
        }
    }

    /// Schedules the one callback for the earliest deadline, unless one already fires no later
    /// (it re-arms when it fires, so a deadline that moved later costs nothing now).
    private func armTimer() {
        guard !closing.isFinished else { return }
        func earlier(_ a: NIODeadline?, _ b: NIODeadline?) -> NIODeadline? {
            guard let a else { return b }
            guard let b else { return a }
            return min(a, b)
        }
        guard let next = earlier(earlier(earlier(expiryAt, idleCheckAt), earlier(keepaliveAt, terminateAt)), notifyAt) else { return }
        if let timerAt, timerAt <= next { return }
        timer?.cancel()
        timer = try? clientChannel.eventLoop.scheduleCallback(at: next, handler: self)
        timerAt = next
    }

    /// Runs whatever is due, then re-arms for the next deadline.
    private func timerFired() {
        timer = nil
        timerAt = nil
        guard !closing.isFinished else { return }
        let now = NIODeadline.now()
        if let deadline = terminateAt, deadline <= now {
            terminateAt = nil
            if let action = closing.closeTimeoutFired() { perform(action) }
        }
        if let deadline = notifyAt, deadline <= now {
            notifyAt = nil
            if !terminating, let exp = info.expiresAt {
                sendToClient(TokenRefresh.expiringMessage(expiresAt: exp))
            }
        }
        if let deadline = expiryAt, deadline <= now {
            expiryAt = nil
            end(
                refreshed ? .refreshedTokenExpired : .tokenExpired,
                toClient: .init(code: route.route.expiryCloseCode, reason: "token expired"),
                toUpstream: .init(code: 1000, reason: "token expired")
            )
        }
        if let deadline = idleCheckAt, deadline <= now {
            idleCheckAt = nil
            checkIdle(now: now)
        }
        if let deadline = keepaliveAt, deadline <= now {
            keepaliveAt = nil
            keepalive(now: now)
        }
        armTimer()
    }

    /// Every `idle_timeout`: no byte either way since the last check ends the connection.
    private func checkIdle(now: NIODeadline) {
        guard !terminating else { return }
        let counts = (clientRelay.tracker.bytes, upstreamRelay.tracker.bytes)
        if counts == idleSnapshot {
            let close = RelayCloseStateMachine.CloseFrame(code: 1001, reason: "idle timeout")
            end(.idleTimeout, toClient: close, toUpstream: close)
        } else {
            idleSnapshot = counts
            idleCheckAt = now + snapshot.configuration.limits.idleTimeout
        }
    }

    /// After `keepalive_interval` without a byte from the client, ping it (between frames); its
    /// pong is consumed, not forwarded. Three unanswered pings end the connection.
    private func keepalive(now: NIODeadline) {
        guard !terminating, let interval = snapshot.configuration.limits.keepaliveInterval else { return }
        let heard = clientRelay.tracker.bytes
        if heard != keepaliveSnapshot {
            keepaliveSnapshot = heard
            unansweredPings = 0
        } else if unansweredPings >= 3 {
            end(.pingTimeout, toClient: .init(code: 1001, reason: "ping timeout"), toUpstream: .init(code: 1001, reason: "client unresponsive"))
            return
        } else if upstreamRelay.tracker.isAtFrameBoundary {
            unansweredPings += 1
            clientRelay.tracker.pongsExpected = min(clientRelay.tracker.pongsExpected + 1, 3)
            clientRelay.write(GatewayFrame.ping(payload: GatewayFrame.keepalivePayload, masked: false, allocator: clientChannel.allocator))
            clientRelay.flush()
        }
        keepaliveAt = now + interval
    }

    // MARK: - Token refresh

    /// On a `token_refresh` route: the connection closes at `exp` + `grace` and is warned at
    /// `exp` - `notify_before` (at once when that has passed already).
    private func scheduleExpiry(now: NIODeadline) {
        guard let settings = route.route.tokenRefresh else { return }
        notifyAt = nil
        expiryAt = nil
        guard let exp = info.expiresAt else { return }
        let remaining = exp - runtime.now
        expiryAt = now + .nanoseconds(Int64(min(max(0, remaining) * 1e9, 3e17))) + settings.grace
        if settings.notifyBefore.nanoseconds > 0 {
            let untilNotice = remaining - Double(settings.notifyBefore.nanoseconds) / 1e9
            notifyAt = now + .nanoseconds(Int64(min(max(0, untilNotice) * 1e9, 3e17)))
        }
    }

    /// A refresh message the client's interceptor took out of the stream (nil: over the bound).
    func refreshReceived(_ message: [UInt8]?) {
        guard !terminating else { return }
        let check = TokenRefresh(route: route, verifier: snapshot.verifier, maxTokenBytes: snapshot.configuration.auth.maxTokenBytes)
        // The loop's token cache, only while this session's rules are the gateway's current ones
        // (entries belong to one snapshot; another owner would empty the cache).
        var cache: (VerifiedTokenCache, owner: AnyObject)?
        if let loopCache = runtime.tokenCaches[ObjectIdentifier(eventLoop)]?.value, runtime.snapshot === snapshot {
            cache = (loopCache, snapshot.handshake)
        }
        let outcome = runtime.metrics.countingTokenCache(cache?.0) {
            check.evaluate(
                message: message, current: info, headerValues: injectedHeaderValues, revocations: runtime.revocations.current,
                now: runtime.now, cache: cache
            )
        }
        switch outcome {
        case .accepted(let next):
            shared = SharedSessionInfo(next)
            refreshed = true
            runtime.registry.update(self, info: shared)
            route.metrics.tokenRefresh(result: "ok")
            scheduleExpiry(now: .now())
            timer?.cancel()
            timer = nil
            timerAt = nil
            armTimer()
            sendToClient(TokenRefresh.refreshedMessage(expiresAt: next.expiresAt))
        case .refused(let reason):
            route.metrics.tokenRefresh(result: reason)
            sendToClient(TokenRefresh.failedMessage(reason: reason))
        }
    }

    /// Sends a text message of the gateway's own to the client between the backend's frames.
    private func sendToClient(_ text: String) {
        let frame = GatewayFrame.text(text, allocator: clientChannel.allocator)
        if pendingToClient.isEmpty, upstreamRelay.tracker.isAtFrameBoundary {
            clientRelay.write(frame)
            clientRelay.flush()
        } else {
            pendingToClient.append(frame)
        }
    }

    // MARK: - Events from the relays

    /// A relay saw its channel close.
    func sideInactive(_ side: Side) {
        // The tracker of `side`'s relay follows the stream from it, toward the other side.
        let from = handler(for: side).tracker
        perform(closing.channelInactive(side, closeSeen: from.closeSeen, boundaryTowardOther: from.isAtFrameBoundary))
    }

    /// A relay's tracker refused a frame or message size: 1009 to the sender, 1001 to the other.
    /// `otherSideClean`: the sender's stream stopped at the oversize frame's start.
    func sizeViolation(from side: Side, otherSideClean: Bool) {
        perform(closing.sizeViolation(
            from: side, senderCloseSeen: handler(for: side).tracker.closeSeen, boundaryTowardOther: otherSideClean,
            // Frames toward the sender are tracked by the other relay.
            boundaryTowardSender: handler(for: side.other).tracker.isAtFrameBoundary
        ))
    }

    /// After each chunk from `side`: pay a close frame owed in that direction once a frame
    /// boundary is reached.
    func afterChunk(from side: Side) {
        if side == .upstream, !pendingToClient.isEmpty, !terminating, upstreamRelay.tracker.isAtFrameBoundary {
            for frame in pendingToClient { clientRelay.write(frame) }
            pendingToClient.removeAll()
            clientRelay.flush()
        }
        let tracker = handler(for: side).tracker
        if let action = closing.chunkRelayed(from: side, atBoundary: tracker.isAtFrameBoundary, senderCloseSeen: tracker.closeSeen) {
            perform(action)
        }
    }

    /// While terminating: whether frames from `side` must still flow until a boundary, because a
    /// close frame is owed in that direction.
    func owesCloseAfterFrames(from side: Side) -> Bool {
        closing.forwardsFrames(from: side)
    }

    /// While terminating, a side's close reply ends that side.
    func closeReplied(by side: Side) {
        if let action = closing.closeFrameSeen(from: side) { perform(action) }
    }

    // MARK: - Ending

    /// The gateway ends the connection for `reason`: a close frame to each side between frames,
    /// then each side's close reply (or two seconds) ends its TCP connection. False when the
    /// connection was already ending (the first reason stands).
    @discardableResult
    private func end(_ reason: RelayEndReason, toClient: RelayCloseStateMachine.CloseFrame, toUpstream: RelayCloseStateMachine.CloseFrame) -> Bool {
        let actions = closing.endRequested(
            reason, toClient: toClient, toUpstream: toUpstream,
            boundaryTowardClient: upstreamRelay.tracker.isAtFrameBoundary,
            boundaryTowardUpstream: clientRelay.tracker.isAtFrameBoundary
        )
        perform(actions)
        return !actions.isEmpty
    }

    private func handler(for side: Side) -> RelayHandler {
        side == .client ? clientRelay : upstreamRelay
    }

    private func perform(_ actions: [RelayCloseStateMachine.Action]) {
        for action in actions { perform(action) }
    }

    /// Carries out one action of the close state machine.
    private func perform(_ action: RelayCloseStateMachine.Action) {
        switch action {
        case .sendClose(let close, let side):
            let relay = handler(for: side)
            let masked = side == .upstream  // RFC 6455 §5.3: frames to a server are masked
            relay.write(GatewayFrame.close(code: close.code, reason: close.reason, masked: masked, allocator: relay.allocator))
            relay.flush()
        case .closeAfterWrites(let side):
            // Toward the client the gateway is the server, which closes TCP first; it half-closes
            // so the client's close reply is read rather than answered with a reset.
            handler(for: side).closeAfterPendingWrites(halfClose: side == .client)
        case .startCloseTimeout:
            idleCheckAt = nil
            keepaliveAt = nil
            terminateAt = .now() + .seconds(2)
            armTimer()
        case .closeBoth:
            clientChannel.close(promise: nil)
            upstreamChannel.close(promise: nil)
        case .finish(let reason):
            finish(reason)
        }
    }

    private func finish(_ endReason: RelayEndReason) {
        timer?.cancel()
        timer = nil
        if holdsAdmission {
            holdsAdmission = false
            runtime.admission.releaseRoute(route.label)
            if let admissionSubject { runtime.admission.releaseSubject(admissionSubject) }
        }
        runtime.registry.remove(self)
        runtime.connectionEnded()
        let seconds = Double((NIODeadline.now() - openedAt).nanoseconds) / 1e9
        let fromClient = clientRelay.tracker
        let fromUpstream = upstreamRelay.tracker
        route.metrics.connectionClosed(
            framesIn: fromClient.frames, framesOut: fromUpstream.frames,
            bytesIn: fromClient.bytes, bytesOut: fromUpstream.bytes
        )
        runtime.logger.info("connection closed", metadata: [
            "route": .string(route.label), "client": .string(clientAddress), "sub": .string(subject ?? "-"),
            "duration_s": "\((seconds * 1000).rounded() / 1000)", "end": .string(endReason.rawValue), "session": .string(info.id),
            "frames_in": "\(fromClient.frames)", "frames_out": "\(fromUpstream.frames)",
            "bytes_in": "\(fromClient.bytes)", "bytes_out": "\(fromUpstream.bytes)",
            "client_close_code": "\(fromClient.closeStatus.map(String.init) ?? "-")",
            "upstream_close_code": "\(fromUpstream.closeStatus.map(String.init) ?? "-")",
        ])
        // Break the reference cycle session ⇄ relays.
        clientRelay.session = nil
        upstreamRelay.session = nil
        clientRelay.partner = nil
        upstreamRelay.partner = nil
    }
}

/// The session is its own timer handler: NIO calls it on the event loop it was scheduled on, the
/// loop both channels and every other use of the session share.
///
/// `@unchecked Sendable` is safe because the session is only ever touched on that one event loop
/// (the channel handlers, the futures it chains and this callback all run there); the conformance
/// exists only because `scheduleCallback` asks for a Sendable handler.
extension RelaySession: NIOScheduledCallbackHandler, @unchecked Sendable {
    func handleScheduledCallback(eventLoop: some EventLoop) {
        timerFired()
    }
}

/// An optional deadline in one word: `NIODeadline?` takes 9 bytes and, aligned, 16; six of them
/// per session were 48 bytes of padding held by every open connection. NIO clamps deadlines to
/// `Int64.max` nanoseconds, so `UInt64.max` never is one and stands for none.
@propertyWrapper
struct PackedDeadline {
    private var nanoseconds = UInt64.max

    init() {}

    var wrappedValue: NIODeadline? {
        get { nanoseconds == .max ? nil : .uptimeNanoseconds(nanoseconds) }
        set { nanoseconds = newValue?.uptimeNanoseconds ?? .max }
    }
}
