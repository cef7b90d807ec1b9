import Foundation
import GatewayAuth
import GatewayHandshake
import GatewayServer
import GatewayTesting
import Testing

/// Two and three gateways in this process on one real PostgreSQL (`WSGATE_TEST_POSTGRES_URL`,
/// which scripts/test.sh starts with scripts/postgres-test.sh). Without it the tests are skipped
/// on a developer's machine, and fail in CI (`CI=true`), where a missing database is a broken
/// setup rather than a choice.
@Suite struct ClusterTests {
    static let url: PostgresURL? = ProcessInfo.processInfo.environment["WSGATE_TEST_POSTGRES_URL"].flatMap { try? PostgresURL(parsing: $0) }
    static let required = ProcessInfo.processInfo.environment["CI"] == "true"

    static func config(backendPort: Int, instance: String, url: PostgresURL) throws -> GatewayConfiguration {
        var config = try SessionsTests.config(backendPort: backendPort)
        config.cluster = ClusterConfiguration(postgres: url, instance: instance, pollIntervalSeconds: 1)
        return config
    }

    static func database() throws -> PostgresURL? {
        if let url { return url }
        if required { throw TestFailure("CI=true but WSGATE_TEST_POSTGRES_URL is not set (scripts/test.sh starts PostgreSQL)") }
        return nil
    }

    @Test func aRevocationMadeOnOneInstanceClosesTheSessionOnAnotherAndBindsALaterOne() async throws {
        guard let url = try Self.database() else { return }
        let subject = "alice-\(UUID().uuidString.prefix(8))"
        let alice = try GatewayHarness.token(["sub": .string(subject)])
        let bob = try GatewayHarness.token(["sub": "bob"])
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, instance: "swift-a", url: url)) { a, _ in
                try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, instance: "swift-b", url: url)) { _, portB in
                    let (onB, _, _) = try await RelayTests.open(port: portB, headers: [("Authorization", "Bearer \(alice)")])
                    let (bobOnB, _, _) = try await RelayTests.open(port: portB, headers: [("Authorization", "Bearer \(bob)")])

                    let revoked = try await SessionsTests.call(a, .POST, "/sessions/revoke", body: #"{"sub":"\#(subject)","reason":"elsewhere"}"#)
                    #expect(revoked.status == 200, "\(revoked.body)")
                    #expect(try SessionsTests.json(revoked.body)["closed"] == .integer(0))
                    #expect(await onB.next() == SessionsTests.closeFrame(4003, "elsewhere"))
                    try? await onB.sendClose(code: 4003)
                    #expect(await onB.next() == .closed)
                    try await bobOnB.send(text: "still here")
                    #expect(await bobOnB.nextText() == "Recv: still here")
                    try await bobOnB.sendClose(code: 1000)

                    // Started afterwards: the revocation is loaded before the listener opens.
                    try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, instance: "swift-c", url: url)) { _, portC in
                        let (response, _) = try await TestWebSocketClient.connect(port: portC, path: "/ws/chat", headers: [("Authorization", "Bearer \(alice)")])
                        #expect(response.status == 401)
                        #expect(response.body == #"{"status":401,"reason":"token_revoked"}"#)
                    }
                }
            }
        }
    }

    /// A `session` revocation made on A for a session that lives on B: A does not know the
    /// session's token, B does. B closes the session with 4003 and writes the revocation again
    /// with the token's digest, so the token is refused from then on on A as well as on B
    /// (before, only a `jti` or `sub` revocation refused it anywhere but where it was made).
    @Test func aSessionRevokedOnAnotherInstanceHasItsTokenRefusedEverywhere() async throws {
        guard let url = try Self.database() else { return }
        let token = try GatewayHarness.token(["sub": .string("carol-\(UUID().uuidString.prefix(8))")])
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, instance: "swift-sa", url: url)) { a, portA in
                try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, instance: "swift-sb", url: url)) { b, portB in
                    let (onB, _, _) = try await RelayTests.open(port: portB, headers: [("Authorization", "Bearer \(token)")])
                    let listed = try SessionsTests.json(try await SessionsTests.call(b, .GET, "/sessions").body)
                    guard case .array(let sessions)? = listed["sessions"], case .object(let session)? = sessions.first,
                          case .string(let id)? = session["id"] else {
                        Issue.record("no session listed on B: \(listed)")
                        return
                    }
                    let revoked = try await SessionsTests.call(a, .POST, "/sessions/revoke", body: #"{"session":"\#(id)","reason":"gone"}"#)
                    #expect(revoked.status == 200, "\(revoked.body)")
                    #expect(try SessionsTests.json(revoked.body)["closed"] == .integer(0))
                    #expect(await onB.next() == SessionsTests.closeFrame(4003, "gone"))
                    try? await onB.sendClose(code: 4003)
                    #expect(await onB.next() == .closed)

                    // B's amendment reaches A through PostgreSQL (bounded wait: no event to await).
                    let digest = tokenDigest(token)
                    let deadline = ContinuousClock.now + .seconds(10)
                    while !a.revocations.contains(where: { $0.tokenDigests == [digest] }), ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    // Other tests share the database: only this session's revocation is looked at.
                    func mine(_ gateway: Gateway) -> [Revocation] { gateway.revocations.filter { $0.kind == .session && $0.value == id } }
                    #expect(mine(a).map(\.tokenDigests) == [[digest]])
                    #expect(mine(b).map(\.tokenDigests) == [[digest]])
                    for port in [portA, portB] {
                        let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
                        #expect(response.status == 401, "port \(port)")
                        #expect(response.body == #"{"status":401,"reason":"token_revoked"}"#)
                        await client?.abort()
                    }
                    // One revocation, one id: lifting it on A lifts the amended one everywhere.
                    let revocationID = try #require(mine(a).first?.id)
                    #expect(try await SessionsTests.call(a, .DELETE, "/revocations/\(revocationID)").status == 200)
                    let liftDeadline = ContinuousClock.now + .seconds(10)
                    while !mine(b).isEmpty, ContinuousClock.now < liftDeadline { try await Task.sleep(for: .milliseconds(20)) }
                    #expect(mine(b).isEmpty)
                    let (again, client) = try await TestWebSocketClient.connect(port: portB, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
                    #expect(again.status == 101)
                    await client?.abort()
                }
            }
        }
    }

    /// Two instances each hold a session with the same id (a client's own `X-Request-Id`), with
    /// different tokens; a revocation of that session id made on a third closes both, and each
    /// holder adds its token: every instance ends up refusing both tokens, whichever amendment
    /// arrived first.
    @Test func holdersOfOneSessionIDOnTwoInstancesBothAddTheirTokens() async throws {
        guard let url = try Self.database() else { return }
        let id = "dup-\(UUID().uuidString.prefix(8))"
        let first = try GatewayHarness.token(["sub": "dave"])
        let second = try GatewayHarness.token(["sub": "erin"])
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, instance: "swift-da", url: url)) { a, portA in
                try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, instance: "swift-db", url: url)) { b, portB in
                    try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, instance: "swift-dc", url: url)) { c, portC in
                        let (onB, _, _) = try await RelayTests.open(port: portB, headers: [("Authorization", "Bearer \(first)"), ("X-Request-Id", id)])
                        let (onC, _, _) = try await RelayTests.open(port: portC, headers: [("Authorization", "Bearer \(second)"), ("X-Request-Id", id)])
                        let revoked = try await SessionsTests.call(a, .POST, "/sessions/revoke", body: #"{"session":"\#(id)"}"#)
                        #expect(revoked.status == 200, "\(revoked.body)")
                        for client in [onB, onC] {
                            #expect(await client.next() == SessionsTests.closeFrame(4003, "revoked"))
                            try? await client.sendClose(code: 4003)
                        }
                        let both = Set([tokenDigest(first), tokenDigest(second)])
                        func mine(_ gateway: Gateway) -> Set<String> {
                            Set(gateway.revocations.filter { $0.kind == .session && $0.value == id }.flatMap(\.tokenDigests))
                        }
                        let deadline = ContinuousClock.now + .seconds(10)
                        while [a, b, c].contains(where: { mine($0) != both }), ContinuousClock.now < deadline {
                            try await Task.sleep(for: .milliseconds(20))
                        }
                        for gateway in [a, b, c] { #expect(mine(gateway) == both, "\(gateway.instanceName)") }
                        for port in [portA, portB, portC] {
                            for token in [first, second] {
                                let (response, client) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
                                #expect(response.status == 401, "port \(port)")
                                await client?.abort()
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func aGatewayWhosePostgreSQLCannotBeReachedDoesNotStart() async throws {
        // A port nothing listens on: starting on a guess would let revoked tokens in.
        let config = try Self.config(backendPort: 9, instance: "swift-x", url: PostgresURL(host: "127.0.0.1", port: 1, user: "u", password: "secret-pw", tls: .disable))
        do {
            try await GatewayHarness.withGateway(config) { _, _ in }
            Issue.record("the gateway started without its revocations")
        } catch let error as ClusterUnavailable {
            #expect(error.description.hasPrefix("cluster unavailable: PostgreSQL connectionError"), "\(error)")
            #expect(!error.description.contains("secret-pw"))
        }
    }
}
