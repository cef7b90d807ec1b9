#if canImport(Glibc)
import GatewayHandshake
import Glibc
#endif
import Foundation
import GatewayServer
import GatewayTesting
import Logging
import NIOCore
import NIOPosix
import Testing

/// Socket activation (sd_listen_fds(3)): reading LISTEN_*, matching sockets to `listen[]`, and a
/// gateway serving on a socket it did not bind.
@Suite struct SocketActivationTests {
    static func listener(_ host: String, _ port: Int, name: String? = nil) -> ListenerConfiguration {
        ListenerConfiguration(endpoint: SocketEndpoint(host: host, port: port), name: name)
    }

    static func socket(_ fd: CInt, _ name: String?, _ ip: String, _ port: Int) throws -> InheritedSocket {
        InheritedSocket(descriptor: fd, name: name, address: try SocketAddress(ipAddress: ip, port: port))
    }

    @Test func environmentIsReadOnlyForThisProcess() throws {
        let env = ["LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "public:admin"]
        let found = try SocketActivation.descriptors(environment: env, pid: 42)
        #expect(found.map(\.descriptor) == [3, 4])
        #expect(found.map(\.name) == ["public", "admin"])
        // Meant for another process (inherited past the one systemd started): ignored.
        #expect(try SocketActivation.descriptors(environment: env, pid: 43).isEmpty)
        #expect(try SocketActivation.descriptors(environment: [:], pid: 42).isEmpty)
        // No names: descriptors without names.
        #expect(try SocketActivation.descriptors(environment: ["LISTEN_PID": "7", "LISTEN_FDS": "1"], pid: 7).map(\.name) == [nil])
        #expect(throws: SocketActivation.Problem("LISTEN_FDNAMES has 1 names for LISTEN_FDS=2 descriptors")) {
            try SocketActivation.descriptors(environment: ["LISTEN_PID": "7", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "one"], pid: 7)
        }
        #expect(throws: SocketActivation.Problem("LISTEN_FDS is \"two\", not a number of descriptors")) {
            try SocketActivation.descriptors(environment: ["LISTEN_PID": "7", "LISTEN_FDS": "two"], pid: 7)
        }
    }

    @Test func socketsMatchByNameThenAddress() throws {
        let listeners = [Self.listener("0.0.0.0", 8080), Self.listener("::", 8443, name: "tls"), Self.listener("127.0.0.1", 8081)]
        let byName = try Self.socket(3, "tls", "::", 9999)          // the name wins over a different address
        let byAddress = try Self.socket(4, "wsgate.socket", "0.0.0.0", 8080)
        let assigned = try SocketActivation.assign([byName, byAddress], to: listeners)
        #expect(assigned == [1: byName, 0: byAddress])
        // The third listener has no socket: the gateway binds it itself.
        #expect(assigned[2] == nil)
        // Same address written differently (IPv6 zeros) still matches.
        #expect(try SocketActivation.assign([Self.socket(5, nil, "0:0::0", 8443)], to: listeners) == [1: try Self.socket(5, nil, "::", 8443)])
    }

    @Test func aSocketForNoListenerOrTwoForOneIsAProblem() throws {
        let listeners = [Self.listener("127.0.0.1", 8080, name: "public")]
        let stray = try Self.socket(3, "other", "127.0.0.1", 9000)
        #expect(throws: SocketActivation.Problem(
            "inherited socket fd 3 \"other\" 127.0.0.1:9000 matches no listen[] entry: give the entry `name: other` or the socket's address"
        )) {
            try SocketActivation.assign([stray], to: listeners)
        }
        let first = try Self.socket(3, "public", "127.0.0.1", 8080)
        let second = try Self.socket(4, nil, "127.0.0.1", 8080)
        #expect(throws: SocketActivation.Problem(
            "inherited sockets fd 3 \"public\" 127.0.0.1:8080 and fd 4 127.0.0.1:8080 both match listen[0] (127.0.0.1:8080)"
        )) {
            try SocketActivation.assign([first, second], to: listeners)
        }
        // Port 0 in the config ("any port") never claims a socket by address.
        #expect(throws: SocketActivation.Problem.self) {
            try SocketActivation.assign([try Self.socket(3, nil, "127.0.0.1", 8080)], to: [Self.listener("127.0.0.1", 0)])
        }
    }

    /// A socket bound and listening before the gateway starts (as systemd hands it over) is the
    /// one the gateway serves: a client connected to it before `start` is served too.
    @Test func gatewayServesAnInheritedSocket() async throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0)
        #expect(listen(fd, 16) == 0)
        let inherited = InheritedSocket(descriptor: fd, name: "public", address: InheritedSocket.boundAddress(of: fd))
        let port = try #require(inherited.address?.port)
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            var config = try RelayTests.chatConfig(backendPort: backendPort)
            config.listeners = [Self.listener("127.0.0.1", 0, name: "public")]
            // The gateway accepts the queued connection (and starts its handshake timer) as soon
            // as it starts, while this test writes the request only when its task runs again: on
            // a busy cooperative pool that once took over 5 s and the answer was 408, not 101.
            config.limits.handshakeTimeout = .seconds(30)
            // Connected while no gateway runs yet: the kernel completes the TCP handshake and
            // queues the connection in the socket's backlog.
            let early = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(early, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var target = address
            target.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(early, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(connected == 0)
            defer { close(early) }
            var logger = Logger(label: "t")
            logger.logLevel = .critical
            let gateway = try await Gateway.start(configuration: config, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
                                                  inheritedSockets: [inherited])
            #expect(gateway.listeningAddresses.map(\.port) == [port])
            // The queued connection is served by the gateway that started after it.
            let request = "GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(token)\r\n\r\n"
            #expect(Array(request.utf8).withUnsafeBytes { write(early, $0.baseAddress, $0.count) } == request.utf8.count)
            var buffer = [UInt8](repeating: 0, count: 12)
            var got = 0
            while got < buffer.count {
                let n = buffer.withUnsafeMutableBytes { read(early, $0.baseAddress! + got, $0.count - got) }
                guard n > 0 else { break }
                got += n
            }
            #expect(String(decoding: buffer, as: UTF8.self) == "HTTP/1.1 101")
            // And new clients on it relay as usual.
            let (client, _, _) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(token)")])
            try await client.send(text: "via fd")
            #expect(await client.nextText() == "Recv: via fd")
            await client.abort()
            try await gateway.shutdown(drainTimeout: .seconds(2))
        }
    }

    /// TCP_NODELAY is set once, on the listening socket, and every accepted socket inherits it
    /// (no per-connection setsockopt): read back from the accepted socket with getsockopt, for a
    /// socket the gateway binds and for one it inherits from systemd (created without the option).
    @Test(arguments: [false, true]) func acceptedSocketsHaveTCPNoDelay(inheritedSocket: Bool) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let accepted = group.next().makePromise(of: SocketOptionValue.self)
        let bootstrap = Gateway.listenerBootstrap(group: group) { channel in
            channel.eventLoop.makeCompletedFuture {
                accepted.succeed(try channel.syncOptions!.getOption(.tcpOption(.tcp_nodelay)))
            }
        }
        let server: Channel
        if inheritedSocket {
            let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(bound == 0)
            #expect(listen(fd, 16) == 0)
            var off: CInt = -1
            var length = socklen_t(MemoryLayout<CInt>.size)
            #expect(getsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &off, &length) == 0 && off == 0)
            server = try await bootstrap.withBoundSocket(fd).get()
        } else {
            server = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        }
        let port = try #require(server.localAddress?.port)
        let client = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
        #expect(try await accepted.futureResult.get() == 1)
        try await client.close()
        try await server.close()
    }
}
