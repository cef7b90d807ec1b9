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
