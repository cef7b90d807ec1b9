import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Opens client connections from the load generator's one event loop.
final class LoadConnector {
    let loop: EventLoop
    let target: LoadTarget
    private let sources: [SocketAddress]
    private var nextSource = 0
    private var requests: UpgradeRequests
    private let allocator = ByteBufferAllocator()

    init(loop: EventLoop, target: LoadTarget, tokens: [String], sources: [SocketAddress]) {
        self.loop = loop
        self.target = target
        self.sources = sources
        requests = UpgradeRequests(target: target, tokens: tokens)
    }

    /// Starts one connection driven by `driver`; the future fails when the TCP connect does.
    func connect(driver: any LoadDriver) -> (LoadConnection, EventLoopFuture<Channel>) {
        let connection = LoadConnection(request: requests.make(allocator: allocator), driver: driver)
        connection.startedAt = DispatchTime.now().uptimeNanoseconds
        let (tls, serverName) = (target.tls, target.serverName)
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(.tcpOption(.tcp_nodelay), value: target.noDelay ? 1 : 0)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 256 * 1024))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        if !sources.isEmpty {
            // IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect() time per 4-tuple, so each
            // source address gets its own ~28k ports toward each destination.
            bootstrap = bootstrap
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(ChannelOptions.Types.SocketOption(level: .ip, name: NIOBSDSocket.Option(rawValue: 24)), value: 1)
                .bind(to: sources[nextSource % sources.count])
            nextSource &+= 1
        }
        return (connection, bootstrap.connect(to: target.address))
    }
}

/// Runs a driver on a fresh single-threaded event loop group and returns what it produced.
func runOnLoop<Result: Sendable>(_ body: @escaping @Sendable (EventLoop, EventLoopPromise<Result>) -> Void) async throws -> Result {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop = group.next()
    let promise = loop.makePromise(of: Result.self)
    loop.execute { body(loop, promise) }
    do {
        let result = try await promise.futureResult.get()
        try? await group.shutdownGracefully()
        return result
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
}

/// Monotonic nanoseconds.
@inline(__always) func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
