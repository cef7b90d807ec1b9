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
            #expect(refused.body.contains("upstream_unavailable"))
            #expect(await GatewayHarness.settle(gateway))
        }
    }
}
