import GatewayAuth
import GatewayHandshake
import Logging
import NIOCore
import NIOHTTP1
import NIOTLS
import Synchronization

/// Owns a client connection from accept until the relay takes over: reads the bounded request
/// head, runs the pure pipeline, connects upstream, and only after the backend's 101 answers the
/// client with that 101 and hands both channels to the relay. Any failure on the way ends in
/// exactly one rejection response.
final class ClientHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHead
        case connecting
        case done
    }

    private let runtime: GatewayRuntime
    private let snapshot: GatewaySnapshot
    /// The client as resolved from its request head; before the head, `facts` resolves the peer
    /// alone, which only a rejection without a head (timeout, malformed request) needs: the
    /// common path resolves once per connection.
    private var resolvedFacts: ClientFacts?
    private var facts: ClientFacts {
        resolvedFacts ?? ClientFacts.resolve(peer: proxiedPeer ?? peer, head: nil, trusted: [], secure: secure)
    }
    private let peer: SocketAddress?
    private let secure: Bool
    private let requestDecoder: ByteToMessageHandler<HTTPRequestDecoder>
    private var state = State.awaitingHead
    private var timeout: NIOScheduledCallback?
    private var context: ChannelHandlerContext?
    private let acceptedAt = NIODeadline.now()

    init(runtime: GatewayRuntime, snapshot: GatewaySnapshot, peer: SocketAddress?, secure: Bool, requestDecoder: ByteToMessageHandler<HTTPRequestDecoder>) {
        self.runtime = runtime
        self.snapshot = snapshot
        self.peer = peer
        self.secure = secure
        self.requestDecoder = requestDecoder
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let proxied = event as? ProxiedSource {
            // The load balancer's PROXY header names the real client.
            if let address = proxied.address { proxiedPeer = address }
            return
        }
        if case .handshakeCompleted = event as? TLSUserEvent {
            // The client's Finished is acknowledged now, not by the delayed-ACK timer.
            TLSFinishedAcknowledger.acknowledge(on: context.channel)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private var proxiedPeer: SocketAddress?

    func handlerAdded(context: ChannelHandlerContext) {
        // Slowloris: the whole request head must arrive within the handshake timeout. A
        // scheduled callback on this handler: no closure or promise per connection.
        self.context = context
        timeout = try? context.eventLoop.scheduleCallback(in: snapshot.configuration.limits.handshakeTimeout, handler: self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimeout()
        self.context = nil
    }

    /// Cancels the handshake timeout once (each cancellation searches the loop's timer queue).
    private func cancelTimeout() {
        timeout?.cancel()
        timeout = nil
    }

    /// The handshake timeout fired.
    fileprivate func handshakeTimedOut() {
        timeout = nil
        guard case .awaitingHead = state, let context else { return }
        finish(.handshakeTimeout, RejectionContext(client: facts.address, detail: "request head not received in time"), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data), case .awaitingHead = state else { return }
        cancelTimeout()
        state = .connecting
        // Whatever the client sends next (early frames) waits in the decoder, which bounds it
        // (Gateway.initializeClient), until the relay exists.
        let facts = ClientFacts.resolve(
            peer: proxiedPeer ?? peer, head: head, trusted: snapshot.configuration.trustedProxies, secure: secure
        )
        resolvedFacts = facts

        let runtime = self.runtime
        let limits = snapshot.configuration.limits
        let now = runtime.now
        let revocations = runtime.revocations.current
        let tokenCache = runtime.tokenCaches[ObjectIdentifier(context.eventLoop)]?.value
        let planner = HandshakePlanner(rules: snapshot.handshake)
        let decision = runtime.metrics.countingTokenCache(tokenCache) {
            planner.decide(head: head, client: facts, now: now, revocation: revocations.handshakeCheck(now: now), tokenCache: tokenCache) { route in
                if runtime.draining.load(ordering: .relaxed) { return .connectionLimit }
                if !runtime.admission.allowHandshake(from: facts.clientIP, limit: limits.maxHandshakesPerIPPerSecond, now: now) {
                    return .rateLimited
                }
                if runtime.clientConnections.load(ordering: .relaxed) > limits.maxConnections { return .connectionLimit }
                if let cluster = runtime.cluster, cluster.isStale(now: now) { return .clusterUnavailable }
                return nil
            }
        }
        switch decision {
        case .reject(let rejection, let rejectionContext):
            finish(rejection, rejectionContext, context: context)
        case .forward(let plan):
            connectUpstream(plan, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard case .awaitingHead = state else {
            context.close(promise: nil)
            return
        }
        cancelTimeout()
        var rejectionContext = RejectionContext(client: facts.address)
        if let parserError = error as? HTTPParserError, case .headerOverflow = parserError {
            rejectionContext.detail = "request head exceeds \(snapshot.configuration.limits.maxHeaderBytes) bytes"
            finish(.headersTooLarge, rejectionContext, context: context)
        } else {
            rejectionContext.detail = "malformed HTTP request"
            finish(.badHandshake, rejectionContext, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .done
        cancelTimeout()
        context.fireChannelInactive()
    }

    private func finish(_ rejection: Rejection, _ rejectionContext: RejectionContext, context: ChannelHandlerContext, status: HTTPResponseStatus? = nil) {
        state = .done
        runtime.reject(
            rejection, context: rejectionContext,
            channel: context.channel, handlerContext: context,
            routeMetrics: snapshot.metrics(forRoute: rejectionContext.route), status: status
        )
    }

    // MARK: - Upstream

    private func connectUpstream(_ plan: UpstreamPlan, context: ChannelHandlerContext) {
        let route = snapshot.routes[plan.routeIndex]
        let routeLabel = route.label
        var subjectSlot: String?
        if let cap = snapshot.configuration.limits.maxConnectionsPerSubject, let subject = plan.token?.subject {
            guard runtime.admission.acquireSubject(subject, cap: cap) else {
                var rejectionContext = plan.context
                rejectionContext.detail = "subject has \(cap) open connections"
                finish(.connectionLimit, rejectionContext, context: context)
                return
            }
            subjectSlot = subject
        }
        guard runtime.admission.acquireRoute(routeLabel, cap: route.route.maxConnections) else {
            if let subjectSlot { runtime.admission.releaseSubject(subjectSlot) }
            var rejectionContext = plan.context
            rejectionContext.detail = "route is at its connection cap"
            finish(.connectionLimit, rejectionContext, context: context)
            return
        }
        let slots = AdmissionSlots(admission: runtime.admission, route: routeLabel, subject: subjectSlot)
        let connectStarted = NIODeadline.now()
        let connector = UpstreamConnector(
            eventLoop: context.eventLoop, runtime: runtime, limits: snapshot.configuration.limits
        )
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        connector.connect(plan, route: route).whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success(let upstream):
                guard context.channel.isActive else {
                    slots.release()
                    upstream.channel.close(promise: nil)
                    return
                }
                let now = NIODeadline.now()
                route.metrics.acceptedHandshake()
                handler.runtime.metrics.handshakeDurations(
                    handshakeSeconds: Double((now - handler.acceptedAt).nanoseconds) / 1e9,
                    upstreamConnectSeconds: Double((now - connectStarted).nanoseconds) / 1e9
                )
                handler.completeUpgrade(plan: plan, route: route, upstream: upstream, slots: slots, context: context)
            case .failure(let error):
                slots.release()
                var rejectionContext = plan.context
                switch error {
                case UpstreamError.timeout(let detail):
                    rejectionContext.detail = detail
                    handler.finish(.upstreamTimeout, rejectionContext, context: context)
                case UpstreamError.refused(let status, let detail):
                    rejectionContext.detail = detail
                    rejectionContext.upstreamStatus = Int(status.code)
                    handler.finish(.upstreamRefused, rejectionContext, context: context, status: status)
                case UpstreamError.unavailable(let detail):
                    rejectionContext.detail = detail
                    handler.finish(.upstreamUnavailable, rejectionContext, context: context)
                default:
                    rejectionContext.detail = "upstream failed"
                    handler.finish(.upstreamUnavailable, rejectionContext, context: context)
                }
            }
        }
    }

    /// Sends the backend's 101 to the client and hands both channels to the relay.
    private func completeUpgrade(plan: UpstreamPlan, route: CompiledRoute, upstream: UpstreamConnection, slots: AdmissionSlots, context: ChannelHandlerContext) {
        state = .done
        // The backend's headers as they are, minus the framing ones that do not apply to a 101.
        // HTTPHeaders compares names case-insensitively without allocating; the common 101 has
        // none of them, and its headers are then passed on without a copy.
        var headers = upstream.head.headers
        if headers.contains(name: "content-length") { headers.remove(name: "content-length") }
        if headers.contains(name: "transfer-encoding") { headers.remove(name: "transfer-encoding") }
        if headers.contains(name: "keep-alive") { headers.remove(name: "keep-alive") }
        let sawProtocol = headers.contains(name: "sec-websocket-protocol")
        // Browsers fail a handshake in which none of their offered protocols is answered.
        if plan.offeredBearerProtocol, !sawProtocol {
            headers.add(name: "Sec-WebSocket-Protocol", value: TokenCarriers.subprotocolMarker)
        }
        let response = HTTPWire.response(status: .switchingProtocols, headers: headers, body: nil, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(response), promise: nil)
        // The request head is read: one read per event (and one pooled buffer) from here on.
        Gateway.relayReads(context.channel)

        var expiry: TimeAmount?
        if let exp = plan.token?.expiresAt {
            let leeway = Double(snapshot.configuration.auth.leewaySeconds)
            let seconds = max(0, exp + leeway - runtime.now)
            expiry = .nanoseconds(Int64(min(seconds, 10 * 365 * 86_400) * 1e9))
        }
        var info = SessionInfo(
            id: plan.context.requestID ?? "", route: plan.route.label, client: facts.address, openedAt: runtime.now
        )
        if let token = plan.token, let digest = plan.tokenDigest {
            info.adopt(token, digest: digest, knownIssuers: snapshot.configuration.auth.issuers)
        }
        let session = RelaySession(
            runtime: runtime,
            snapshot: snapshot,
            route: route,
            client: context.channel,
            upstream: upstream.channel,
            info: info,
            slots: slots
        )
        do {
            // Relays first, then the decoders go: their left-over bytes (early client frames,
            // frames that came with the backend's 101) flow straight into the relays.
            try session.install(
                clientPipeline: context.pipeline.syncOperations,
                upstreamPipeline: upstream.channel.pipeline.syncOperations,
                removing: (client: [self, requestDecoder], upstream: upstream.handshakeHandlers)
            )
        } catch {
            runtime.logger.error("relay setup failed", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            upstream.channel.close(promise: nil)
            return
        }
        var headerValues: [String?] = []
        if plan.route.route.tokenRefresh != nil, let token = plan.token {
            headerValues = TokenRefresh.headerValues(of: token, route: plan.route.route)
        }
        session.start(expiry: expiry, injectedHeaderValues: headerValues)
        // Bytes the decoders handed over on removal arrived outside a read batch: flush them now.
        session.clientRelay.flush()
        session.upstreamRelay.flush()
    }
}

/// Per-route and per-subject admission slots held by one connection during its handshake;
/// released exactly once, here or (after the upgrade) by the `RelaySession` that takes them over.
final class AdmissionSlots: Sendable {
    private let admission: Admission
    /// The route's label (the session releases `route.label`, the same string).
    let route: String
    let subject: String?
    /// Inline in the object (Synchronization's `Atomic`): a `ManagedAtomic` is an object of its
    /// own, and one per relayed connection was 32 bytes more held while it is open.
    private let released = Atomic<Bool>(false)

    init(admission: Admission, route: String, subject: String?) {
        self.admission = admission
        self.route = route
        self.subject = subject
    }

    func release() {
        // The first caller releases; the session's close and a failed handshake may both try.
        guard released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        admission.releaseRoute(route)
        if let subject { admission.releaseSubject(subject) }
    }
}

/// The handler is its own handshake-timeout callback.
///
/// `@unchecked Sendable` is safe because the handler is only touched on its channel's event loop:
/// NIO calls channel handlers there and runs the callback on the loop it was scheduled on; the
/// conformance exists only because `scheduleCallback` asks for a Sendable handler.
extension ClientHandshakeHandler: NIOScheduledCallbackHandler, @unchecked Sendable {
    func handleScheduledCallback(eventLoop: some EventLoop) {
        handshakeTimedOut()
    }
}
