import Foundation
import GatewayAuth
import GatewayHandshake
import GatewayServer
import GatewayTesting
import Logging
import NIOCore
import NIOPosix
import Testing

/// Remote JWKS through a real gateway and a real JWKS endpoint on loopback: rotation without a
/// restart, stale-while-error, start-up with and without a cached copy, and the rate limit on
/// early refreshes.
@Suite struct JWKSRefresherTests {
    /// A signer and its public JWK.
    struct Signer {
        var signer: TokenSigner
        var jwk: String

        init(_ algorithm: JWTAlgorithm, kid: String) throws {
            signer = try TokenSigner.generating(algorithm, kid: kid)
            jwk = try #require(JWKSServer.jwk(for: signer, kid: kid))
        }

        /// A token for `sub` alice, valid for an hour.
        func token() throws -> String {
            let now = Int64(Date().timeIntervalSince1970)
            return try signer.sign(claims: ["sub": .string("alice"), "iat": .integer(now), "exp": .integer(now + 3600)])
        }
    }

    static var logger: Logger {
        var logger = Logger(label: "wsgate-jwks-test")
        logger.logLevel = .critical
        return logger
    }

    /// A gateway whose only keys come from `sets`, with one route to an echo backend, and a
    /// refresher running beside it; everything is stopped afterwards.
    static func withRefreshingGateway<T: Sendable>(
        _ sets: [RemoteKeySetConfiguration],
        _ body: (Gateway, Int, JWKSRefresher) async throws -> T
    ) async throws -> T {
        try await GatewayHarness.withEchoBackend { backendPort in
            let backend = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort), path: "/")
            var configuration = try GatewayHarness.configuration(routes: [RouteConfiguration(pattern: .exact("/ws"), upstreams: [backend])])
            configuration.keys = KeySet([])
            configuration.remoteKeySets = sets
            let remote = try await JWKSRefresher.fetchInitial(sets, logger: logger, timeout: .seconds(2))
            let gateway = try await Gateway.start(
                configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, remoteKeys: remote, logger: logger
            )
            let refresher = JWKSRefresher(gateway: gateway, sets: sets, logger: logger)
            let running = Task { await refresher.run() }
            do {
                let result = try await body(gateway, gateway.listeningAddresses[0].port!, refresher)
                running.cancel()
                await running.value
                try await gateway.shutdown(drainTimeout: .seconds(2))
                return result
            } catch {
                running.cancel()
                await running.value
                try? await gateway.shutdown(drainTimeout: .seconds(2))
                throw error
            }
        }
    }

    /// The status and body of a handshake carrying `token`; a 101 connection is closed again.
    static func handshake(_ port: Int, _ token: String) async throws -> (Int, String) {
        let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws", headers: [("Authorization", "Bearer \(token)")])
        if let client { await client.abort() }
        return (response.status, response.body)
    }

    /// Polls `condition` (cheaply, every 10 ms) until it holds or `timeout` passes.
    static func eventually(within timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    /// The first event of `refresher` matching `predicate`, or nil after `timeout`.
    static func firstEvent(
        of refresher: JWKSRefresher, within timeout: Duration = .seconds(10),
        where predicate: @escaping @Sendable (JWKSRefreshEvent) -> Bool
    ) async -> JWKSRefreshEvent? {
        await withTaskGroup(of: JWKSRefreshEvent?.self) { group in
            group.addTask {
                for await event in refresher.events where predicate(event) { return event }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    @Test("a token signed by a new key is accepted once the JWKS serves it: unknown_key, one early refresh, then 101")
    func rotationWithoutRestart() async throws {
        let old = try Signer(.es256, kid: "old")
        let new = try Signer(.edDSA, kid: "new")
        try await JWKSServer.with(reply: .document(JWKSServer.document([old.jwk]))) { server in
            let set = RemoteKeySetConfiguration(url: server.url, refreshInterval: .hours(1), minimumRefreshInterval: .milliseconds(200))
            try await Self.withRefreshingGateway([set]) { gateway, port, refresher async throws in
                #expect(try await Self.handshake(port, old.token()).0 == 101)
                let (status, body) = try await Self.handshake(port, new.token())
                #expect(status == 401)
                #expect(body.contains("unknown_key"), "\(body)")
                // The early refresh that unknown kid asked for finishes before the issuer rotates:
                // on a slow machine it could otherwise fetch the rotated document already.
                let firstEarly = await Self.firstEvent(of: refresher) { event in
                    if case .refreshed(_, let kids, true) = event { return !kids.contains("new") }
                    return false
                }
                #expect(firstEarly != nil, "the unknown kid asked for no early refresh")

                // The issuer rotates: the JWKS now serves both keys.
                server.serve(.document(JWKSServer.document([old.jwk, new.jwk])))
                let (again, againBody) = try await Self.handshake(port, new.token())
                #expect(again == 401 && againBody.contains("unknown_key"))
                let event = await Self.firstEvent(of: refresher) { event in
                    if case .refreshed(_, let kids, true) = event { return kids.contains("new") }
                    return false
                }
                #expect(event != nil, "no early refresh brought the new key")
                #expect(try await Self.handshake(port, new.token()).0 == 101)
                #expect(try await Self.handshake(port, old.token()).0 == 101)
                #expect(refresher.counts.error == 0)
            }
        }
    }

    @Test("a JWKS outage (500, then connections closed) changes nothing for existing keys; errors are counted")
    func outageKeepsLastGoodKeys() async throws {
        let key = try Signer(.es256, kid: "k1")
        try await JWKSServer.with(reply: .document(JWKSServer.document([key.jwk]), cacheControl: "max-age=0")) { server in
            let set = RemoteKeySetConfiguration(
                url: server.url, refreshInterval: .milliseconds(300), minimumRefreshInterval: .milliseconds(50)
            )
            try await Self.withRefreshingGateway([set]) { gateway, port, refresher async throws in
                // max-age=0 is clamped up to the minimum: refreshes keep coming, all good.
                let held1 = await Self.eventually { refresher.counts.ok >= 2 }
                #expect(held1)
                #expect(try await Self.handshake(port, key.token()).0 == 101)

                server.serve(.status(500))
                let held2 = await Self.eventually { refresher.counts.error >= 2 }
                #expect(held2)
                #expect(try await Self.handshake(port, key.token()).0 == 101)

                server.serve(.close)
                let before = refresher.counts.error
                let held3 = await Self.eventually { refresher.counts.error >= before + 2 }
                #expect(held3)
                #expect(try await Self.handshake(port, key.token()).0 == 101)

                server.serve(.document("{\"keys\": \"not a list\"}"))
                let broken = refresher.counts.error
                let held4 = await Self.eventually { refresher.counts.error > broken }
                #expect(held4)
                #expect(try await Self.handshake(port, key.token()).0 == 101)

                // Back: good fetches resume.
                server.serve(.document(JWKSServer.document([key.jwk])))
                let good = refresher.counts.ok
                let held5 = await Self.eventually { refresher.counts.ok > good }
                #expect(held5)
                #expect(try await Self.handshake(port, key.token()).0 == 101)
            }
        }
    }

    @Test("after a reload, update(sets:) fetches an added set at once and stops refreshing a dropped one")
    func followsReload() async throws {
        let first = try Signer(.es256, kid: "first")
        let second = try Signer(.edDSA, kid: "second")
        try await JWKSServer.with(reply: .document(JWKSServer.document([first.jwk]))) { firstServer in
            try await JWKSServer.with(reply: .document(JWKSServer.document([second.jwk]))) { secondServer in
                let firstSet = RemoteKeySetConfiguration(
                    url: firstServer.url, refreshInterval: .milliseconds(100), minimumRefreshInterval: .milliseconds(50)
                )
                let secondSet = RemoteKeySetConfiguration(url: secondServer.url, refreshInterval: .hours(1))
                try await Self.withRefreshingGateway([firstSet]) { gateway, port, refresher async throws in
                    #expect(try await Self.handshake(port, second.token()).0 == 401)
                    #expect(secondServer.requestCount == 0)

                    var both = gateway.configuration
                    both.remoteKeySets = [firstSet, secondSet]
                    #expect(await gateway.reload(both) == nil)
                    refresher.update(sets: both.remoteKeySets)
                    let added = await Self.firstEvent(of: refresher) { event in
                        if case .refreshed(let url, _, false) = event { return url == secondSet.url }
                        return false
                    }
                    #expect(added != nil, "the added set was not fetched")
                    #expect(refresher.sets.map(\.url) == [firstSet.url, secondSet.url])
                    #expect(try await Self.handshake(port, second.token()).0 == 101)
                    #expect(try await Self.handshake(port, first.token()).0 == 101)

                    var onlySecond = gateway.configuration
                    onlySecond.remoteKeySets = [secondSet]
                    #expect(await gateway.reload(onlySecond) == nil)
                    refresher.update(sets: onlySecond.remoteKeySets)
                    #expect(try await Self.handshake(port, first.token()).0 == 401)
                    // The dropped set's loop ends (after a fetch in flight, if any): its server,
                    // asked every 100 ms until now, hears nothing more.
                    try await Task.sleep(for: .milliseconds(200))
                    let settled = firstServer.requestCount
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(firstServer.requestCount == settled, "the dropped set is still refreshed")
                    #expect(try await Self.handshake(port, second.token()).0 == 101)
                }
            }
        }
    }

    @Test("start-up with an unreachable JWKS and no cached copy fails, naming the URL")
    func unreachableAtStartUp() async throws {
        let server = try await JWKSServer.start(reply: .status(404))
        try await server.shutdown()
        let url = server.url
        do {
            _ = try await JWKSRefresher.fetchInitial([RemoteKeySetConfiguration(url: url)], logger: Self.logger, timeout: .seconds(1))
            Issue.record("start-up succeeded without a JWKS")
        } catch let error as JWKSError {
            #expect(error.description.hasPrefix("jwks_url \(url) unreachable: "), "\(error)")
            #expect(error.description.contains("connection refused; no cached copy"), "\(error)")
        }
    }

    @Test("start-up with a JWKS answering an error status fails with the status; a redirect is not followed", arguments: [
        (500, "unreachable: HTTP 500 Internal Server Error; no cached copy"),
        (404, "unreachable: HTTP 404 Not Found; no cached copy"),
        (301, "unreachable: HTTP 301 Moved Permanently; redirects are not followed: configure the final URL; no cached copy"),
    ])
    func errorStatusAtStartUp(_ status: Int, _ message: String) async throws {
        try await JWKSServer.with(reply: .status(status)) { server in
            do {
                _ = try await JWKSRefresher.fetchInitial([RemoteKeySetConfiguration(url: server.url)], logger: Self.logger, timeout: .seconds(1))
                Issue.record("start-up succeeded without a JWKS")
            } catch let error as JWKSError {
                #expect(error.description.contains(message), "\(error)")
            }
        }
    }

    @Test("a good fetch writes the cache file; with the JWKS unreachable, start-up uses the cached copy")
    func startsFromCache() async throws {
        let key = try Signer(.es256, kid: "cached")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsgate-jwks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cacheFile = directory + "/jwks.json"
        let document = JWKSServer.document([key.jwk])

        let server = try await JWKSServer.start(reply: .document(document))
        let set = RemoteKeySetConfiguration(url: server.url, cacheFile: cacheFile)
        let fetched = try await JWKSRefresher.fetchInitial([set], logger: Self.logger, timeout: .seconds(1))
        #expect(fetched[server.url]?.map(\.id) == ["cached"])
        #expect(FileManager.default.contents(atPath: cacheFile).map { String(decoding: $0, as: UTF8.self) } == document)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["jwks.json"], "no temporary file left behind")
        try await server.shutdown()

        try await Self.withRefreshingGateway([set]) { gateway, port, refresher async throws in
            #expect(try await Self.handshake(port, key.token()).0 == 101)
        }

        // A broken cached copy is no copy: the error says both.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: cacheFile))
        do {
            _ = try await JWKSRefresher.fetchInitial([set], logger: Self.logger, timeout: .seconds(1))
            Issue.record("started from a broken cache")
        } catch let error as JWKSError {
            #expect(error.description.contains("unreachable"), "\(error)")
            #expect(error.description.contains("cache_file \(cacheFile)"), "\(error)")
        }
    }

    @Test("https: verified against tls_ca_file; the system store does not know the test CA, so without it the fetch fails")
    func httpsWithCAFile() async throws {
        let key = try Signer(.es256, kid: "tls")
        let certificates = try TestCertificates.make()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        try await JWKSServer.with(reply: .document(JWKSServer.document([key.jwk])), tls: try certificates.serverContext()) { server in
            #expect(server.url.hasPrefix("https://localhost:"))
            let trusted = RemoteKeySetConfiguration(url: server.url, caFile: certificates.caFile)
            let keys = try await JWKSRefresher.fetchInitial([trusted], logger: Self.logger, timeout: .seconds(2))
            #expect(keys[server.url]?.map(\.id) == ["tls"])
            do {
                _ = try await JWKSRefresher.fetchInitial([RemoteKeySetConfiguration(url: server.url)], logger: Self.logger, timeout: .seconds(2))
                Issue.record("an unknown CA was trusted")
            } catch let error as JWKSError {
                #expect(error.description.hasPrefix("jwks_url \(server.url) unreachable: "), "\(error)")
                #expect(error.description.contains("certificate is not trusted (CERTIFICATE_VERIFY_FAILED)"), "\(error)")
            }
        }
    }

    @Test("a flood of unknown kids causes at most one early fetch per minimum interval")
    func floodIsRateLimited() async throws {
        let key = try Signer(.es256, kid: "real")
        let bogus = try Signer(.es256, kid: "bogus")
        try await JWKSServer.with(reply: .document(JWKSServer.document([key.jwk]))) { server in
            let minimum = Duration.milliseconds(400)
            let set = RemoteKeySetConfiguration(url: server.url, refreshInterval: .hours(1), minimumRefreshInterval: .milliseconds(400))
            try await Self.withRefreshingGateway([set]) { gateway, port, refresher async throws in
                let before = server.requestCount
                let clock = ContinuousClock()
                let start = clock.now
                var rejected = 0
                // At least a second, and at least 21 rejections (a loaded machine is slower); the
                // allowance below follows the flood's real duration.
                while clock.now - start < .milliseconds(1000) || (rejected <= 20 && clock.now - start < .seconds(10)) {
                    let (status, body) = try await Self.handshake(port, bogus.token())
                    if status == 401, body.contains("unknown_key") { rejected += 1 }
                }
                let flood = clock.now - start
                // Let a fetch the flood left pending happen, then count.
                try await Task.sleep(for: minimum + .milliseconds(200))
                let fetches = server.requestCount - before
                let allowed = Int((flood + minimum + .milliseconds(200)) / minimum) + 1
                #expect(rejected > 20, "the flood was too small to mean anything: \(rejected)")
                #expect(fetches >= 1, "no early fetch at all")
                #expect(fetches <= allowed, "\(fetches) fetches for \(rejected) unknown kids in \(flood)")
                #expect(refresher.counts.ok == fetches)
                #expect(try await Self.handshake(port, key.token()).0 == 101)
            }
        }
    }
}
