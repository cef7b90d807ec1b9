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
/// early refreshes. The refresher's schedule runs on a `ManualClock`: each test advances it to
/// the exact instant a fetch is due, after `waitForSleeper` shows the refresher waiting for it.
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
    /// refresher running beside it on `clock`; everything is stopped afterwards.
    static func withRefreshingGateway<T: Sendable>(
        _ sets: [RemoteKeySetConfiguration], clock: ManualClock = ManualClock(),
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
            let refresher = JWKSRefresher(gateway: gateway, sets: sets, logger: logger, clock: clock)
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

    /// The first event of `refresher` matching `predicate` (by default the next one), or nil after
    /// `timeout` of real time (a fetch is a real request on loopback).
    static func firstEvent(
        of refresher: JWKSRefresher, within timeout: Duration = .seconds(10),
        where predicate: @escaping @Sendable (JWKSRefreshEvent) -> Bool = { _ in true }
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
            let clock = ManualClock()
            let start = clock.now
            try await Self.withRefreshingGateway([set], clock: clock) { gateway, port, refresher async throws in
                #expect(try await Self.handshake(port, old.token()).0 == 101)
                let (status, body) = try await Self.handshake(port, new.token())
                #expect(status == 401)
                #expect(body == #"{"status":401,"reason":"unknown_key"}"#, "\(body)")
                // The early fetch waits for the minimum interval after the initial fetch.
                #expect(await clock.waitForSleeper(until: start + .milliseconds(200)))
                clock.advance(by: .milliseconds(200))
                let firstEarly = await Self.firstEvent(of: refresher) { event in
                    if case .refreshed(_, let kids, true) = event { return !kids.contains("new") }
                    return false
                }
                #expect(firstEarly != nil, "the unknown kid asked for no early refresh")

                // The issuer rotates: the JWKS now serves both keys.
                server.serve(.document(JWKSServer.document([old.jwk, new.jwk])))
                let (again, againBody) = try await Self.handshake(port, new.token())
                #expect(again == 401 && againBody.contains("unknown_key"))
                #expect(await clock.waitForSleeper(until: start + .milliseconds(400)))
                clock.advance(by: .milliseconds(200))
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

    @Test("a JWKS outage (500, then connections closed) changes nothing for existing keys; errors are counted and backed off exactly")
    func outageKeepsLastGoodKeys() async throws {
        let key = try Signer(.es256, kid: "k1")
        try await JWKSServer.with(reply: .document(JWKSServer.document([key.jwk]), cacheControl: "max-age=0")) { server in
            let set = RemoteKeySetConfiguration(
                url: server.url, refreshInterval: .milliseconds(300), minimumRefreshInterval: .milliseconds(50)
            )
            let clock = ManualClock()
            try await Self.withRefreshingGateway([set], clock: clock) { gateway, port, refresher async throws in
                /// Waits for the refresher to sleep exactly `delay`, lets that time pass, and
                /// returns the fetch's outcome.
                func fetchAfter(_ delay: Duration) async -> JWKSRefreshEvent? {
                    let due = clock.now + delay
                    guard await clock.waitForSleeper(until: due) else {
                        Issue.record("the refresher does not wait \(delay)")
                        return nil
                    }
                    clock.advance(by: delay)
                    return await Self.firstEvent(of: refresher)
                }
                let url = server.url
                // The refresh interval after start-up; then max-age=0, clamped up to the minimum.
                #expect(await fetchAfter(.milliseconds(300)) == .refreshed(url: url, keyIDs: ["k1"], early: false))
                #expect(await fetchAfter(.milliseconds(50)) == .refreshed(url: url, keyIDs: ["k1"], early: false))
                #expect(try await Self.handshake(port, key.token()).0 == 101)

                // Failures back off from the minimum, doubling, capped at the refresh interval.
                server.serve(.status(500))
                #expect(await fetchAfter(.milliseconds(50)) == .failed(url: url, reason: "HTTP 500 Internal Server Error", early: false))
                #expect(await fetchAfter(.milliseconds(50)) == .failed(url: url, reason: "HTTP 500 Internal Server Error", early: false))
                #expect(try await Self.handshake(port, key.token()).0 == 101)

                server.serve(.close)
                for delay in [100, 200] {
                    guard case .failed(url, _, false)? = await fetchAfter(.milliseconds(delay)) else {
                        Issue.record("a closed connection was not a failure")
                        return
                    }
                }
                #expect(try await Self.handshake(port, key.token()).0 == 101)

                server.serve(.document("{\"keys\": \"not a list\"}"))
                guard case .failed(url, _, false)? = await fetchAfter(.milliseconds(300)) else {
                    Issue.record("a broken document was not a failure")
                    return
                }
                #expect(try await Self.handshake(port, key.token()).0 == 101)

                // Back: good fetches resume, at the refresh interval (no max-age now).
                server.serve(.document(JWKSServer.document([key.jwk])))
                #expect(await fetchAfter(.milliseconds(300)) == .refreshed(url: url, keyIDs: ["k1"], early: false))
                #expect(await clock.waitForSleeper(until: clock.now + .milliseconds(300)))
                #expect(refresher.counts == JWKSRefreshCounts(ok: 3, error: 5))
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
                let clock = ManualClock()
                try await Self.withRefreshingGateway([firstSet], clock: clock) { gateway, port, refresher async throws in
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
                    // The dropped set's loop ends: its server, due every 100 ms, hears nothing
                    // while two hours pass, in which the kept set is refreshed twice.
                    let settled = firstServer.requestCount
                    for _ in 0..<2 {
                        #expect(await clock.waitForSleeper(until: clock.now + .seconds(3600)))
                        clock.advance(by: .seconds(3600))
                        #expect(await Self.firstEvent(of: refresher) == .refreshed(url: secondSet.url, keyIDs: ["second"], early: false))
                    }
                    #expect(firstServer.requestCount == settled, "the dropped set is still refreshed")
                    #expect(try await Self.handshake(port, first.token()).0 == 401)
                    #expect(try await Self.handshake(port, second.token()).0 == 101)
                }
            }
        }
    }

    @Test("start-up with an unreachable JWKS and no cached copy fails, naming the URL")
    func unreachableAtStartUp() async throws {
        // A port held bound but not listening: refused for the whole test. (A server started and
        // shut down freed its port, which a test running in parallel once took: HTTP 404.)
        let refusing = try RefusingPort()
        defer { withExtendedLifetime(refusing) {} }
        let url = "http://127.0.0.1:\(refusing.port)/jwks.json"
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

    @Test("a flood of unknown kids causes exactly one early fetch per minimum interval, due at its exact end")
    func floodIsRateLimited() async throws {
        let key = try Signer(.es256, kid: "real")
        let bogus = try Signer(.es256, kid: "bogus")
        try await JWKSServer.with(reply: .document(JWKSServer.document([key.jwk]))) { server in
            let minimum = Duration.milliseconds(400)
            let set = RemoteKeySetConfiguration(url: server.url, refreshInterval: .hours(1), minimumRefreshInterval: .milliseconds(400))
            let clock = ManualClock()
            let start = clock.now
            try await Self.withRefreshingGateway([set], clock: clock) { gateway, port, refresher async throws in
                let before = server.requestCount
                for round in 1...2 {
                    for _ in 0..<25 {
                        let (status, body) = try await Self.handshake(port, bogus.token())
                        #expect(status == 401 && body == #"{"status":401,"reason":"unknown_key"}"#)
                    }
                    // The flood asked for one early fetch, due `minimum` after the previous fetch
                    // began (start-up's, then the first early one): not a nanosecond sooner.
                    let due = start + minimum * round
                    #expect(await clock.waitForSleeper(until: due))
                    clock.advance(by: due - clock.now - .nanoseconds(1))
                    #expect(server.requestCount == before + round - 1)
                    clock.advance(by: .nanoseconds(1))
                    #expect(await Self.firstEvent(of: refresher) == .refreshed(url: server.url, keyIDs: ["real"], early: true))
                    #expect(server.requestCount == before + round)
                }
                #expect(refresher.counts == JWKSRefreshCounts(ok: 2, error: 0))
                #expect(try await Self.handshake(port, key.token()).0 == 101)
            }
        }
    }
}
