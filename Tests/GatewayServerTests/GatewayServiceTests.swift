import Foundation
import GatewayConfig
import GatewayHandshake
import GatewayServer
import GatewayTesting
import Logging
import Prometheus
import ServiceLifecycle
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `GatewayService`, the lifecycle `wsgate serve` runs, started in-process from a config file:
/// a real SIGHUP sent to this process reloads the file through the service's own signal handling.
@Suite struct GatewayServiceTests {
    /// The environment the config files' `secret_env` reads (the harness's HS256 secret).
    static let environment = ["WSGATE_TEST_SECRET": String(decoding: GatewayHarness.secret, as: UTF8.self)]

    /// A config on a kernel-chosen port with the harness's key and one exact route per path, each
    /// to the echo backend at `/up<path>`; revocations kept in `stateDirectory` (the default,
    /// /var/lib/wsgate, is shared with whatever else ran on the machine).
    static func yaml(paths: [String], backendPort: Int, stateDirectory: String, extra: String = "") -> String {
        var text = """
            listen:
              - address: "127.0.0.1:0"
            keys:
              - id: test-hs
                algorithms: [HS256]
                secret_env: WSGATE_TEST_SECRET
            rejection_log:
              enabled: false
            state_dir: \(stateDirectory)
            routes:

            """
        for path in paths {
            text += "  - path: \(path)\n    upstream: ws://127.0.0.1:\(backendPort)/up\(path)\n    auth: required\n"
        }
        return text + extra
    }

    /// The first line the echo backend saw (its greeting starts with the request line), or the
    /// handshake status when there was no upgrade.
    static func requestLine(port: Int, path: String, token: String) async throws -> String {
        let (response, client) = try await TestWebSocketClient.connect(
            port: port, path: path, headers: [("Authorization", "Bearer \(token)")]
        )
        guard let client else { return "HTTP \(response.status)" }
        let greeting = await client.nextText()
        await client.abort()
        return greeting.map { String($0.prefix { $0 != "\n" }) } ?? "no greeting"
    }

    /// The next element of `stream`, or nil when none comes within `limit`: a reload that never
    /// reports fails the test instead of hanging it.
    static func next<Element: Sendable>(_ stream: AsyncStream<Element>, within limit: Duration = .seconds(20)) async -> Element? {
        await withTaskGroup(of: Element?.self) { group in
            group.addTask { await stream.first { _ in true } }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// SIGHUP after the file gained route `/b`: `/b` goes from 404 to 101 (the backend sees the
    /// mapped request) and `/a` still works; a broken file on the next SIGHUP is refused with its
    /// problem and the previous configuration keeps serving.
    @Test func sighupReloadsTheConfigFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsgate-service-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/wsgate.yaml"
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try Self.yaml(paths: ["/a"], backendPort: backendPort, stateDirectory: directory).write(toFile: path, atomically: true, encoding: .utf8)
            let load: @Sendable () throws -> GatewayConfiguration = {
                try ConfigurationLoader.load(path: path, environment: Self.environment)
            }
            var logger = Logger(label: "wsgate-service-test")
            logger.logLevel = .critical
            let (started, startedFeed) = AsyncStream.makeStream(of: Int.self)
            let (reloads, reloadFeed) = AsyncStream.makeStream(of: String?.self)
            var service = GatewayService(
                configuration: try load(), reloadSource: load, registry: PrometheusCollectorRegistry(), logger: logger
            ) { gateway in
                startedFeed.yield(gateway.listeningAddresses[0].port!)
            }
            service.reloaded = { problems in reloadFeed.yield(problems) }
            let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
            let running = Task { try await group.run() }
            guard let port = await Self.next(started) else {
                Issue.record("the service ended before listening")
                return
            }

            var line = try await Self.requestLine(port: port, path: "/a", token: token)
            #expect(line == "GET /up/a HTTP/1.1")
            line = try await Self.requestLine(port: port, path: "/b", token: token)
            #expect(line == "HTTP 404")

            try Self.yaml(paths: ["/a", "/b"], backendPort: backendPort, stateDirectory: directory).write(toFile: path, atomically: true, encoding: .utf8)
            // The trap is in place: the service traps SIGHUP before it binds, and it has bound.
            kill(getpid(), SIGHUP)
            let applied = await Self.next(reloads)
            #expect(applied == .some(nil))
            line = try await Self.requestLine(port: port, path: "/b", token: token)
            #expect(line == "GET /up/b HTTP/1.1")
            line = try await Self.requestLine(port: port, path: "/a", token: token)
            #expect(line == "GET /up/a HTTP/1.1")

            // A key no route has, in a route `/c` that is not added.
            try Self.yaml(paths: ["/a", "/b", "/c"], backendPort: backendPort, stateDirectory: directory, extra: "    frobnicate: true\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            kill(getpid(), SIGHUP)
            let refused = await Self.next(reloads)
            #expect(refused == .some("routes[2].frobnicate (line 20): unknown key \"frobnicate\""))
            line = try await Self.requestLine(port: port, path: "/b", token: token)
            #expect(line == "GET /up/b HTTP/1.1")
            line = try await Self.requestLine(port: port, path: "/c", token: token)
            #expect(line == "HTTP 404")

            await group.triggerGracefulShutdown()
            try await running.value
        }
    }
}
