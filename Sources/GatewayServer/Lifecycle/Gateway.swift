import Foundation
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
    private let listeners: NIOLockedValueBox<[Channel]>
    private let adminChannel: NIOLockedValueBox<Channel?>
    private let ownsGroup: Bool

    /// Addresses the client listeners are bound to, in configuration order.
    public var listeningAddresses: [SocketAddress] {
        listeners.withLockedValue { $0.compactMap(\.localAddress) }
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
    /// Whether a drain has begun.
    public var isDraining: Bool { runtime.draining.load(ordering: .relaxed) }

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
    ///   - group: event loops to use; by default one per core, owned and shut down by the gateway.
    ///   - admin: serves the admin endpoints; nil serves only `/healthz` and `/readyz`.
    public static func start(
        configuration: GatewayConfiguration,
        group: EventLoopGroup? = nil,
        logger: Logger = Logger(label: "wsgate"),
        rejectionLog: RejectionLog? = nil,
        admin: AdminResponder? = nil
    ) async throws -> Gateway {
        let ownsGroup = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let log = rejectionLog ?? RejectionLog(
            destination: configuration.rejectionLog.destination,
            recentCapacity: configuration.admin?.recentRejections ?? 1000,
            onTrouble: { message in logger.warning("\(message)") }
        )
        let runtime = GatewayRuntime(
            snapshot: GatewaySnapshot(configuration: configuration), logger: logger, rejectionLog: log, metrics: GatewayMetrics()
        )
        let gateway = Gateway(group: group, ownsGroup: ownsGroup, runtime: runtime)
        do {
            for listener in configuration.listeners {
                let channel = try await gateway.bind(listener)
                gateway.listeners.withLockedValue { $0.append(channel) }
            }
            if let adminConfig = configuration.admin {
                let channel = try await AdminServer.bind(
                    endpoint: adminConfig.endpoint, group: group, gateway: gateway, responder: admin
                )
                gateway.adminChannel.withLockedValue { $0 = channel }
            }
        } catch {
            try? await gateway.shutdown(drainTimeout: .zero)
            throw error
        }
        return gateway
    }

    private func bind(_ listener: ListenerConfiguration) async throws -> Channel {
        let runtime = self.runtime
        let tlsContext: NIOSSLContext? = try listener.tls.map { files in
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificateFile).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: files.privateKeyFile, format: .pem))
            )
            tls.minimumTLSVersion = .tlsv12
            tls.applicationProtocols = ["http/1.1"]
            return try NIOSSLContext(configuration: tls)
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Gateway.initializeClient(channel: channel, runtime: runtime, tls: tlsContext, secure: listener.tls != nil)
                }
            }
        return try await bootstrap.bind(host: listener.endpoint.host, port: listener.endpoint.port).get()
    }

    private static func initializeClient(channel: Channel, runtime: GatewayRuntime, tls: NIOSSLContext?, secure: Bool) throws {
        runtime.clientConnections.wrappingIncrement(ordering: .relaxed)
        channel.closeFuture.whenComplete { _ in runtime.clientConnections.wrappingDecrement(ordering: .relaxed) }
        let snapshot = runtime.snapshot
        let facts = clientFacts(channel: channel, snapshot: snapshot, secure: secure)
        let sync = channel.pipeline.syncOperations
        if let tls {
            try sync.addHandler(NIOSSLServerHandler(context: tls))
        }
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = snapshot.configuration.limits.maxHeaderBytes
        limits.maxHeaderFieldSize = snapshot.configuration.limits.maxHeaderBytes
        limits.maxHeaderFieldCount = 256
        let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: limits))
        try sync.addHandler(decoder)
        try sync.addHandler(ClientHandshakeHandler(runtime: runtime, snapshot: snapshot, facts: facts, requestDecoder: decoder))
    }

    private static func clientFacts(channel: Channel, snapshot: GatewaySnapshot, secure: Bool) -> ClientFacts {
        let peer = channel.remoteAddress
        let ip = peer?.ipAddress ?? "unknown"
        let port = peer?.port ?? 0
        let address = ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        var trusted = false
        if !snapshot.configuration.trustedProxies.isEmpty, let bytes = CIDRBlock.addressBytes(ip) {
            trusted = snapshot.configuration.trustedProxies.contains { $0.contains(bytes) }
        }
        return ClientFacts(address: address, ip: ip, peerIsTrustedProxy: trusted, secure: secure)
    }

    /// Replaces the configuration for new connections; open connections keep theirs.
    public func reload(_ configuration: GatewayConfiguration) {
        runtime.snapshot = GatewaySnapshot(configuration: configuration)
    }

    /// Stops accepting, sends every open WebSocket close 1001 "going away", waits up to
    /// `drainTimeout` for them to close, then closes everything that is left.
    public func shutdown(drainTimeout: TimeAmount? = nil) async throws {
        runtime.draining.store(true, ordering: .relaxed)
        let channels = listeners.withLockedValue { list -> [Channel] in
            defer { list = [] }
            return list
        }
        for channel in channels {
            try? await channel.close()
        }
        for session in runtime.registry.all {
            session.close(1001, "going away")
        }
        let timeout = drainTimeout ?? runtime.snapshot.configuration.limits.drainTimeout
        let deadline = NIODeadline.now() + timeout
        while runtime.registry.count > 0 || runtime.clientConnections.load(ordering: .relaxed) > 0, NIODeadline.now() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let admin = adminChannel.withLockedValue({ $0 }) {
            try? await admin.close()
        }
        runtime.rejectionLog.flush()
        if ownsGroup {
            try await group.shutdownGracefully()
        }
    }
}
