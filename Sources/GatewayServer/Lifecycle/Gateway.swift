import Foundation
import GatewayAuth
import GatewayHandshake
import GatewayText
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A running wsgate: client listeners, the handshake pipeline, the relay, and the admin listener.
///
/// ```swift
/// let gateway = try await Gateway.start(configuration: config, logger: logger)
/// print(gateway.listeningAddresses)   // real ports when the config asked for port 0
/// …
/// try await gateway.shutdown()
/// ```
public final class Gateway: Sendable {
    /// The event loops both halves of every connection run on.
    public let group: EventLoopGroup
    let runtime: GatewayRuntime
    private let listeners: NIOLockedValueBox<[(config: ListenerConfiguration, channel: Channel)]>
    private let adminChannel: NIOLockedValueBox<Channel?>
    /// Current TLS context per listener key; replaced on reload (certificate rotation).
    private let tlsContexts = NIOLockedValueBox<[String: NIOSSLContext]>([:])
    private let ownsGroup: Bool
    private let pruning = NIOLockedValueBox<RepeatedTask?>(nil)
    private let sampling = NIOLockedValueBox<RepeatedTask?>(nil)

    /// Addresses the client listeners are bound to, in configuration order.
    public var listeningAddresses: [SocketAddress] {
        listeners.withLockedValue { $0.compactMap(\.channel.localAddress) }
    }

    /// The admin listener's address, when one is configured.
    public var adminAddress: SocketAddress? {
        adminChannel.withLockedValue { $0?.localAddress }
    }

    /// Open client connections (handshaking or relaying).
    public var openClientConnections: Int { runtime.clientConnections.load(ordering: .relaxed) }
    /// Open upstream connections.
    public var openUpstreamConnections: Int { runtime.upstreamConnections.load(ordering: .relaxed) }
    /// Relayed (upgraded) connections.
    public var relayedConnections: Int { runtime.registry.count }
    /// The rejection log (its recent ring backs `/rejections`).
    public var rejectionLog: RejectionLog { runtime.rejectionLog }
    /// The configuration new connections use.
    public var configuration: GatewayConfiguration { runtime.snapshot.configuration }
    /// Whether a drain has begun (listeners stopped, handshakes refused).
    public var isDraining: Bool { runtime.draining.load(ordering: .relaxed) }
    /// Whether `/readyz` answers 200: false from the moment a shutdown begins, `drain_delay`
    /// before the listeners stop.
    public var isReady: Bool { !runtime.unready.load(ordering: .relaxed) }

    private init(group: EventLoopGroup, ownsGroup: Bool, runtime: GatewayRuntime) {
        self.group = group
        self.ownsGroup = ownsGroup
        self.runtime = runtime
        self.listeners = NIOLockedValueBox([])
        self.adminChannel = NIOLockedValueBox(nil)
    }

    /// Binds every listener of `configuration` and starts serving.
    ///
    /// - Parameters:
    ///   - group: event loops to use; by default `threads` loops (one per core when nil), owned and
    ///     shut down by the gateway.
    ///   - remoteKeys: keys already fetched for `configuration.remoteKeySets`, by URL.
    ///   - admin: serves the admin endpoints; nil serves only `/healthz` and `/readyz`.
    ///   - inheritedSockets: listening sockets from systemd (``SocketActivation``); each serves the
    ///     listener ``SocketActivation/assign(_:to:)`` gives it instead of a socket bound here.
    public static func start(
        configuration: GatewayConfiguration,
        group: EventLoopGroup? = nil,
        threads: Int? = nil,
        remoteKeys: [String: [VerificationKey]] = [:],
        logger: Logger = Logger(label: "wsgate"),
        rejectionLog: RejectionLog? = nil,
        admin: AdminResponder? = nil,
        inheritedSockets: [InheritedSocket] = []
    ) async throws -> Gateway {
        let inherited = try SocketActivation.assign(inheritedSockets, to: configuration.listeners)
        let ownsGroup = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads ?? System.coreCount))
        let log = rejectionLog ?? RejectionLog(
            destination: configuration.rejectionLog.destination,
            recentCapacity: configuration.admin?.recentRejections ?? 1000,
            onTrouble: { message in logger.warning("\(message)") }
        )
        let traffic = TrafficCounters()
        let cluster = configuration.cluster.map { ClusterBus(configuration: $0, group: group, logger: logger) }
        let runtime = GatewayRuntime(
            snapshot: GatewaySnapshot(configuration: configuration, remoteKeys: remoteKeys, traffic: traffic), logger: logger,
            rejectionLog: log, metrics: GatewayMetrics(), traffic: traffic, cluster: cluster, loops: Array(group.makeIterator())
        )
        runtime.keySetStatus.withLockedValue { status in
            for url in remoteKeys.keys { status[url] = RemoteKeySetStatus(installedAt: runtime.startedAt) }
        }
        let gateway = Gateway(group: group, ownsGroup: ownsGroup, runtime: runtime)
        Gateway.warnAboutInsecureUpstreams(configuration, logger: logger)
        do {
            if let cluster {
                // Every unexpired revocation is in force before the first listener opens.
                cluster.onActions { actions in gateway.carryOut(actions) }
                try await cluster.start(now: runtime.now)
            }
            for (index, listener) in configuration.listeners.enumerated() {
                let channel = try await gateway.bind(listener, inherited: inherited[index]?.descriptor)
                gateway.listeners.withLockedValue { $0.append((listener, channel)) }
            }
            if configuration.cluster?.instance == nil, let port = gateway.listeningAddresses.first?.port {
                gateway.runtime.instance.withLockedValue { $0 = "\($0):\(port)" }
            }
            gateway.scheduleRevocationPruning()
            gateway.scheduleTrafficSampling()
            if let adminConfig = configuration.admin {
                let channel = try await AdminServer.bind(
                    endpoint: adminConfig.endpoint, group: group, gateway: gateway, responder: admin
                )
                gateway.adminChannel.withLockedValue { $0 = channel }
            }
            if let cluster {
                cluster.run(instance: gateway.instanceName, adminURL: gateway.advertisedAdminURL, startedAt: runtime.now)
            }
        } catch {
            try? await gateway.shutdown(drainTimeout: .zero)
            throw error
        }
        return gateway
    }

    /// Drops expired revocations once a minute (off the event loop: it may save the file).
    private func scheduleRevocationPruning() {
        let runtime = self.runtime
        let task = group.next().scheduleRepeatedTask(initialDelay: .minutes(1), delay: .minutes(1)) { _ in
            Task { runtime.revocations.removeExpired(now: runtime.now) }
        }
        pruning.withLockedValue { $0 = task }
    }

    /// Once a second, one timer takes the traffic counters' counts into the dashboard's series:
    /// the handshake path only increments atomics, and no frame is ever counted.
    private func scheduleTrafficSampling() {
        let runtime = self.runtime
        let task = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            runtime.trafficSeries.append(runtime.traffic.drain(second: Int64(runtime.now.rounded(.down))))
        }
        sampling.withLockedValue { $0 = task }
    }

    /// Receive buffers start small: a channel keeps its first buffer for life, and most WebSocket
    /// connections sit idle (bench/README.md: 10.3 → 8.5 KiB per idle proxied connection at 9k).
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    /// A server TLS context from PEM files: TLS 1.2 minimum, ALPN `http/1.1`.
    static func serverTLSContext(_ files: TLSFiles) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: files.privateKeyFile, format: .pem))
        )
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: tls)
    }

    /// Identifies a listener across reloads.
    static func listenerKey(_ listener: ListenerConfiguration) -> String {
        "\(listener.endpoint)|\(listener.tls?.certificateFile ?? "")|\(listener.tls?.privateKeyFile ?? "")|\(listener.proxyProtocol)"
    }

    /// The receive allocator and one read per readiness event (`handshakeReads` until the
    /// upgrade), on an accepted or connecting socket.
    ///
    /// One read per readiness event: NIO keeps up to `maxMessagesPerRead` receive buffers per
    /// channel, and a second read while the first buffer is still held (the handshake's request
    /// head is) would pin a second buffer on every idle connection. A client's request head with
    /// a token (≈ 780 B with RS256) does not fit the first 512 B buffer, though: with one read per
    /// event it took two events. So the client socket reads twice per event until the upgrade,
    /// and `relayReads` (`maxMessagesPerRead` 1 again) then drops the second buffer from NIO's
    /// pool, so an idle connection keeps one.
    ///
    /// TCP_NODELAY (frames are small and latency matters) is not set here: an accepted socket
    /// inherits it from the listening socket (Linux copies it at accept; `listenerBootstrap` sets
    /// it there), and `ClientBootstrap` sets it on the upstream socket. Setting it per connection
    /// cost two system calls per handshake (NIO looks up the socket's address family with a
    /// `getsockname` before each TCP_NODELAY).
    static func setSocketOptions(_ channel: Channel, handshakeReads: UInt = 1) throws {
        guard let options = channel.syncOptions else { return }
        try options.setOption(.recvAllocator, value: Gateway.receiveAllocator)
        try options.setOption(.maxMessagesPerRead, value: handshakeReads)
    }

    /// One read per readiness event from now on (see `setSocketOptions`), into a receive buffer
    /// sized afresh.
    ///
    /// A request head that filled the 512 B first buffer (an RS256 token makes it ≈ 780 B) made
    /// the adaptive allocator ask for 1 KiB next, and NIO's pool grows the buffer it keeps to what
    /// the allocator asks (it never shrinks it): every idle proxied connection then held 1 KiB
    /// where 512 B do. A fresh allocator asks for 512 B again, so the pooled buffer is reused as
    /// it is; it still grows when the relayed traffic needs it.
    static func relayReads(_ channel: Channel) {
        guard let options = channel.syncOptions else { return }
        try? options.setOption(.maxMessagesPerRead, value: 1)
        try? options.setOption(.recvAllocator, value: Gateway.receiveAllocator)
    }

    /// The listeners' bootstrap: TCP_NODELAY on the listening socket, which every accepted socket
    /// inherits (IPPROTO_TCP level: the same number at SOL_SOCKET is SO_DEBUG, which an
    /// unprivileged process may not set).
    package static func listenerBootstrap(group: EventLoopGroup, childInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer(childInitializer)
    }

    /// Bytes a client may send after its request head and before the gateway's 101. Small: a
    /// client should send nothing then (RFC 6455 §4.1), and every connecting client may hold this
    /// much in the gateway for up to `upstream_timeout` (with the read interest kept, the kernel's
    /// receive window no longer bounds it).
    package static let earlyBytesLimit = 4 * 1024

    private func bind(_ listener: ListenerConfiguration, inherited descriptor: CInt? = nil) async throws -> Channel {
        let runtime = self.runtime
        let key = Gateway.listenerKey(listener)
        if let files = listener.tls {
            let context = try Gateway.serverTLSContext(files)
            tlsContexts.withLockedValue { $0[key] = context }
        }
        let contexts = tlsContexts
        let bootstrap = Gateway.listenerBootstrap(group: group) { channel in
            channel.eventLoop.makeCompletedFuture {
                // Options set here, synchronously: as bootstrap child options NIO applies
                // each through a chain of futures for every accepted connection.
                try Gateway.setSocketOptions(channel, handshakeReads: 2)
                // Looked up per connection, so a reload's new certificate serves new clients.
                let tls = listener.tls == nil ? nil : contexts.withLockedValue { $0[key] }
                try Gateway.initializeClient(
                    channel: channel, runtime: runtime, tls: tls, secure: listener.tls != nil, proxyProtocol: listener.proxyProtocol
                )
            }
        }
        if let descriptor {
            // Already bound and listening (systemd set its backlog); NIO takes ownership of it.
            return try await bootstrap.withBoundSocket(descriptor).get()
        }
        return try await bootstrap.bind(host: listener.endpoint.host, port: listener.endpoint.port).get()
    }

    private static func initializeClient(channel: Channel, runtime: GatewayRuntime, tls: NIOSSLContext?, secure: Bool, proxyProtocol: Bool) throws {
        runtime.clientConnections.wrappingIncrement(ordering: .relaxed)
        channel.closeFuture.whenComplete { _ in
            runtime.clientConnections.wrappingDecrement(ordering: .releasing)
            runtime.connectionEnded()
        }
        let snapshot = runtime.snapshot
        let sync = channel.pipeline.syncOperations
        if proxyProtocol {
            // The PROXY header comes before anything else, TLS included.
            try sync.addHandler(ProxyProtocolHandler())
        }
        if let tls {
            try sync.addHandler(NIOSSLServerHandler(context: tls))
        }
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = snapshot.configuration.limits.maxHeaderBytes
        limits.maxHeaderFieldSize = snapshot.configuration.limits.maxHeaderBytes
        limits.maxHeaderFieldCount = 256
        // The socket keeps being read while the upstream is connected (no read-interest toggling,
        // two epoll_ctl calls per connection); what a client sends early, before its 101, waits in
        // the decoder, bounded here: past the head limit plus `earlyBytesLimit`, the connection is
        // closed (RFC 6455 §4.1: a client sends nothing before the server's handshake anyway).
        let decoder = ByteToMessageHandler(
            HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: limits),
            maximumBufferSize: snapshot.configuration.limits.maxHeaderBytes + Gateway.earlyBytesLimit
        )
        try sync.addHandler(decoder)
        try sync.addHandler(ClientHandshakeHandler(
            runtime: runtime, snapshot: snapshot, peer: channel.remoteAddress, secure: secure, requestDecoder: decoder
        ))
    }

    /// Replaces the configuration for new connections; open connections keep theirs. Remote key
    /// sets that the new configuration still names keep their fetched keys. Listeners the new
    /// configuration adds are bound first (a failure refuses the whole reload and is returned);
    /// then the snapshot is swapped and listeners it no longer names stop accepting.
    @discardableResult
    public func reload(_ configuration: GatewayConfiguration) async -> String? {
        let current = listeners.withLockedValue { $0 }
        let key = Gateway.listenerKey
        // Re-read certificates of the TLS listeners that stay (rotation without dropping anyone).
        var renewed: [String: NIOSSLContext] = [:]
        for listener in configuration.listeners {
            guard let files = listener.tls else { continue }
            do {
                renewed[key(listener)] = try Gateway.serverTLSContext(files)
            } catch {
                return "TLS for \(listener.endpoint): \(error)"
            }
        }
        let wanted = Set(configuration.listeners.map(key))
        let existing = Set(current.map { key($0.config) })
        var added: [(config: ListenerConfiguration, channel: Channel)] = []
        for listener in configuration.listeners where !existing.contains(key(listener)) {
            do {
                added.append((listener, try await bind(listener)))
            } catch {
                for (_, channel) in added { try? await channel.close() }
                return "cannot listen on \(listener.endpoint): \(error)"
            }
        }
        let previous = runtime.snapshot.configuration
        runtime.updateSnapshot { current in
            GatewaySnapshot(configuration: configuration, remoteKeys: current.remoteKeys, traffic: runtime.traffic)
        }
        Gateway.warnAboutInsecureUpstreams(configuration, logger: runtime.logger)
        let ignored = Gateway.startupOnlyChanges(from: previous, to: configuration)
        if !ignored.isEmpty {
            runtime.logger.warning("reload: these settings changed but apply only at the next start; the running values stay", metadata: [
                "settings": .string(ignored.joined(separator: ", ")),
            ])
        }
        tlsContexts.withLockedValue { $0.merge(renewed) { _, new in new } }
        let removed = current.filter { !wanted.contains(key($0.config)) }
        listeners.withLockedValue { list in
            list.removeAll { entry in removed.contains { $0.channel === entry.channel } }
            list.append(contentsOf: added)
        }
        for (_, channel) in removed { try? await channel.close() }
        return nil
    }

    /// The settings a reload cannot apply (what is bound, opened or sized at start), by their
    /// names in the config file, that differ between `old` and `new`: a reload takes everything
    /// else, and says so of these rather than ignoring them silently.
    package static func startupOnlyChanges(from old: GatewayConfiguration, to new: GatewayConfiguration) -> [String] {
        var changed: [String] = []
        if old.admin?.endpoint != new.admin?.endpoint { changed.append("admin.address") }
        if old.admin?.recentRejections != new.admin?.recentRejections { changed.append("admin.recent_rejections") }
        if old.auth.tokenCacheSize != new.auth.tokenCacheSize { changed.append("auth.token_cache_size") }
        if old.stateDirectory != new.stateDirectory { changed.append("state_dir") }
        if old.cluster != new.cluster { changed.append("cluster") }
        return changed
    }

    /// `insecure_skip_verify` is an explicit choice, but never a silent one.
    static func warnAboutInsecureUpstreams(_ configuration: GatewayConfiguration, logger: Logger) {
        for route in configuration.routes {
            for upstream in route.upstreams where upstream.secure && upstream.insecureSkipVerify {
                logger.warning("TLS certificate verification is off for this upstream (insecure_skip_verify)", metadata: [
                    "route": "\(route.pattern)", "upstream": "\(upstream)",
                ])
            }
        }
    }

    /// `ip:port` (`[v6]:port`) for logs.
    public static func display(_ address: SocketAddress) -> String {
        let ip = address.ipAddress ?? "?"
        let port = address.port ?? 0
        return HostPort.text(host: ip, port: port)
    }

    /// Installs freshly fetched keys of the remote key set at `url` for new handshakes.
    public func updateRemoteKeys(url: String, keys: [VerificationKey]) {
        runtime.updateSnapshot { current in
            var remote = current.remoteKeys
            remote[url] = keys
            return GatewaySnapshot(configuration: current.configuration, remoteKeys: remote, traffic: runtime.traffic)
        }
    }

    /// Called (on an event loop; keep it cheap) with the `kid` of each token refused as
    /// `unknown_key`, so a key-set refresher can fetch early when keys rotate.
    public func onUnknownKey(_ observer: @escaping @Sendable (String) -> Void) {
        runtime.unknownKeyObserver.withLockedValue { $0 = observer }
    }

    /// Waits until no client, upstream or relayed connection is open, at most `timeout`; true
    /// when that happened (woken by the last close, not by polling).
    public func waitUntilIdle(timeout: TimeAmount) async -> Bool {
        let runtime = self.runtime
        if runtime.isIdle { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await runtime.waitUntilIdle()
                return runtime.isIdle
            }
            group.addTask {
                // The bound on the wait, not a synchronisation: the first task is woken by the close.
                try? await Task.sleep(nanoseconds: UInt64(max(0, timeout.nanoseconds)))
                return runtime.isIdle
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Drains and stops, within `drainTimeout` from the call:
    /// 1. `/readyz` answers 503 at once; the listeners keep accepting and serving for
    ///    `drainDelay`, so a balancer's health check takes the instance out before anyone is refused;
    /// 2. the listeners stop and new handshakes are refused;
    /// 3. every open WebSocket is sent close 1001 "going away", spread evenly over `drainSpread`
    ///    (``DrainSchedule``) so its clients do not all reconnect in the same moment;
    /// 4. what is still open when `drainTimeout` ends is closed.
    ///
    /// Each argument defaults to the configuration's `limits`; `drainTimeout: .zero` also makes
    /// the delay and the spread zero (an immediate stop).
    public func shutdown(drainTimeout: TimeAmount? = nil, drainDelay: TimeAmount? = nil, drainSpread: TimeAmount? = nil) async throws {
        let limits = runtime.snapshot.configuration.limits
        let timeout = drainTimeout ?? limits.drainTimeout
        let immediate = timeout == .zero
        let delay = drainDelay ?? (immediate ? .zero : limits.drainDelay)
        let schedule = DrainSchedule(spread: drainSpread ?? (immediate ? .zero : limits.drainSpread))
        let deadline = NIODeadline.now() + timeout
        runtime.unready.store(true, ordering: .relaxed)
        if delay > .zero {
            // The delay is the feature itself (time for the balancer to notice), not a wait for an event.
            try? await Task.sleep(nanoseconds: UInt64(delay.nanoseconds))
        }
        runtime.draining.store(true, ordering: .relaxed)
        pruning.withLockedValue { $0?.cancel(); $0 = nil }
        sampling.withLockedValue { $0?.cancel(); $0 = nil }
        let channels = listeners.withLockedValue { list -> [Channel] in
            defer { list = [] }
            return list.map(\.channel)
        }
        for channel in channels {
            try? await channel.close()
        }
        let sessions = runtime.registry.all
        for (index, session) in sessions.enumerated() {
            session.drain(code: 1001, reason: "going away", after: schedule.offset(index: index, of: sessions.count))
        }
        _ = await waitUntilIdle(timeout: max(.zero, deadline - NIODeadline.now()))
        if let admin = adminChannel.withLockedValue({ $0 }) {
            try? await admin.close()
        }
        await runtime.cluster?.shutdown()
        runtime.rejectionLog.flush()
        if ownsGroup {
            try await group.shutdownGracefully()
        }
    }
}
