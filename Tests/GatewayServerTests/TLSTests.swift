import Foundation
import GatewayAuth
import GatewayDemo
import GatewayHandshake
import GatewayServer
import GatewayTesting
import NIOCore
import NIOPosix
import Testing

/// TLS at both ends: `wss://` listeners and `wss://` backends, with a throwaway CA.
@Suite struct TLSTests {
    @Test func wssClientThroughGatewayToWssBackend() async throws {
        let certificates = try TestCertificates.make()
        let backend = try await EchoBackend.start(
            host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton, tls: try certificates.serverContext()
        )
        defer { Task { try? await backend.shutdown() } }
        let backendPort = backend.localAddress!.port!
        var config = try GatewayHarness.configuration(routes: [
            RouteConfiguration(pattern: .exact("/ws"), upstreams: [UpstreamTarget(
                secure: true, endpoint: SocketEndpoint(host: "localhost", port: backendPort), path: "/", caFile: certificates.caFile
            )], auth: .none),
            RouteConfiguration(pattern: .exact("/untrusted"), upstreams: [UpstreamTarget(
                secure: true, endpoint: SocketEndpoint(host: "localhost", port: backendPort), path: "/"
            )], auth: .none),
        ])
        config.listeners = [ListenerConfiguration(
            endpoint: SocketEndpoint(host: "127.0.0.1", port: 0),
            tls: TLSFiles(certificateFile: certificates.certificateFile, privateKeyFile: certificates.privateKeyFile)
        )]
        try await GatewayHarness.withGateway(config) { gateway, port in
            let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws", tls: try certificates.clientContext())
            #expect(response.status == 101)
            let ws = try #require(client)
            let greeting = try #require(await ws.nextText())
            #expect(greeting.contains("X-Forwarded-Proto: https\n"))
            try await ws.send(text: "over tls")
            #expect(await ws.nextText() == "Recv: over tls")
            try await ws.sendClose(code: 1000)
            #expect(await ws.next() == .frame(opcode: .connectionClose, fin: true, data: [0x03, 0xe8]))

            // A backend whose certificate the system store does not trust: 502, never a plaintext fallback.
            let (refused, _) = try await TestWebSocketClient.connect(port: port, path: "/untrusted", tls: try certificates.clientContext())
            #expect(refused.status == 502)
            #expect(refused.body == #"{"status":502,"reason":"upstream_unavailable"}"#)
            #expect(await GatewayHarness.settle(gateway))
        }
    }

    /// `tls_ca_file` rewritten with another CA and reloaded: the backend whose certificate the
    /// new CA signed is trusted from then on, and the one of the old CA is not (issue 11: the
    /// context used to be cached per path for the life of the process).
    @Test func reloadTrustsTheRotatedCAFileAndNoLongerTheOldOne() async throws {
        let old = try TestCertificates.make()
        let new = try TestCertificates.make()
        let group = MultiThreadedEventLoopGroup.singleton
        let oldBackend = try await EchoBackend.start(host: "127.0.0.1", port: 0, group: group, tls: try old.serverContext())
        defer { Task { try? await oldBackend.shutdown() } }
        let newBackend = try await EchoBackend.start(host: "127.0.0.1", port: 0, group: group, tls: try new.serverContext())
        defer { Task { try? await newBackend.shutdown() } }
        // The operator's CA file: one path, its content rotated in place.
        let caFile = NSTemporaryDirectory() + "wsgate-rotated-ca-\(UUID().uuidString).pem"
        try FileManager.default.copyItem(atPath: old.caFile, toPath: caFile)
        defer { try? FileManager.default.removeItem(atPath: caFile) }
        func route(_ path: String, to backend: EchoBackend) -> RouteConfiguration {
            RouteConfiguration(pattern: .exact(path), upstreams: [UpstreamTarget(
                secure: true, endpoint: SocketEndpoint(host: "localhost", port: backend.localAddress!.port!), path: "/", caFile: caFile
            )], auth: .none)
        }
        let config = try GatewayHarness.configuration(routes: [route("/old", to: oldBackend), route("/new", to: newBackend)])
        try await GatewayHarness.withGateway(config) { gateway, port in
            /// The handshake's status; on 101 the relay is proven end to end and closed cleanly.
            func status(_ path: String) async throws -> Int {
                let (response, client) = try await TestWebSocketClient.connect(port: port, path: path)
                guard let ws = client else { return response.status }
                let greeting = try #require(await ws.nextText())
                #expect(greeting.hasPrefix("GET /"))
                try await ws.sendClose(code: 1000)
                #expect(await ws.next() == .frame(opcode: .connectionClose, fin: true, data: [0x03, 0xe8]))
                return response.status
            }
            #expect(try await status("/old") == 101)
            #expect(try await status("/new") == 502)

            try Data(contentsOf: URL(fileURLWithPath: new.caFile)).write(to: URL(fileURLWithPath: caFile))
            #expect(await gateway.reload(config) == nil)

            #expect(try await status("/new") == 101)
            let (refused, _) = try await TestWebSocketClient.connect(port: port, path: "/old")
            #expect(refused.status == 502)
            #expect(refused.body == #"{"status":502,"reason":"upstream_unavailable"}"#)
            #expect(await GatewayHarness.settle(gateway))
        }
    }
}
