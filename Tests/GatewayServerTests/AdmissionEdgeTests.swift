import GatewayHandshake
import Foundation
import GatewayServer
import GatewayTesting
import Testing

/// Admission limits through a real gateway on loopback, each driven to its exact edge.
@Suite struct AdmissionEdgeTests {
    /// `limits.max_handshakes_per_ip_per_second: N`: exactly N upgrades from one client get 101,
    /// the next gets 429 `rate_limited` with `Retry-After: 1`. The window is the wall clock's
    /// second, so an attempt that straddles a second boundary proves nothing and is made again
    /// with a fresh gateway (at most three times; handshakes take milliseconds).
    @Test(arguments: [1, 3])
    func exactlyTheLimitIsAdmittedPerSecond(limit: Int) async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort))
            let config = try GatewayHarness.configuration(
                routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [backend], auth: .none)],
                limits: Limits(maxHandshakesPerIPPerSecond: limit)
            )
            for attempt in 1...3 {
                let measured = try await GatewayHarness.withGateway(config) { gateway, port -> Bool in
                    let start = Int64(Date().timeIntervalSince1970)
                    var statuses: [Int] = []
                    for _ in 0...limit {
                        let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                        statuses.append(response.status)
                        if response.status == 429 {
                            #expect(response.body == "{\"status\":429,\"reason\":\"rate_limited\"}")
                            #expect(response.headers.first(name: "Retry-After") == "1")
                        }
                        await client?.abort()
                    }
                    let end = Int64(Date().timeIntervalSince1970)
                    #expect(await GatewayHarness.settle(gateway))
                    guard start == end else { return false }
                    #expect(statuses == Array(repeating: 101, count: limit) + [429], "attempt \(attempt)")
                    #expect(gateway.rejectionLog.recent(limit: 10).map(\.reason) == ["rate_limited"])
                    return true
                }
                if measured { return }
            }
            Issue.record("three attempts each straddled a second boundary")
        }
    }

    /// `limits.max_connections: N`: N open connections, the next handshake 503
    /// `connection_limit`; once they have closed, new ones are admitted.
    @Test func exactlyTheConnectionCapIsAdmitted() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort))
            let config = try GatewayHarness.configuration(
                routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [backend], auth: .none)],
                limits: Limits(maxConnections: 2)
            )
            try await GatewayHarness.withGateway(config) { gateway, port in
                var open: [TestWebSocketClient] = []
                for _ in 0..<2 {
                    let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                    #expect(response.status == 101)
                    if let client { open.append(client) }
                }
                let (refused, extra) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                #expect(refused.status == 503)
                #expect(refused.body == "{\"status\":503,\"reason\":\"connection_limit\"}")
                #expect(extra == nil)
                #expect(gateway.rejectionLog.recent(limit: 10).map(\.reason) == ["connection_limit"])
                for client in open { await client.abort() }
                #expect(await GatewayHarness.settle(gateway))
                let (again, client) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                #expect(again.status == 101)
                await client?.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    /// A route's `max_connections: 1`: the relayed connection holds the route's slot, a second
    /// handshake gets 503 `connection_limit`, and the slot comes back when the relay ends (the
    /// session releases it, not the handshake).
    @Test func aRoutesSlotComesBackWhenTheRelayEnds() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort))
            let config = try GatewayHarness.configuration(
                routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [backend], auth: .none, maxConnections: 1)]
            )
            try await GatewayHarness.withGateway(config) { gateway, port in
                for round in 1...3 {
                    let (first, client) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                    #expect(first.status == 101, "round \(round)")
                    let (second, extra) = try await TestWebSocketClient.connect(port: port, path: "/ws")
                    #expect(second.status == 503, "round \(round)")
                    #expect(second.body == "{\"status\":503,\"reason\":\"connection_limit\"}")
                    #expect(extra == nil)
                    await client?.abort()
                    #expect(await GatewayHarness.settle(gateway))
                }
            }
        }
    }
}
