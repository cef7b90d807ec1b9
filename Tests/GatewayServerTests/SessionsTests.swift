import AsyncHTTPClient
import Foundation
import GatewayAuth
import GatewayHandshake
import GatewayServer
import GatewayTesting
import NIOCore
import NIOHTTP1
import Testing

/// Live sessions end to end (SESSIONS.md): the admin API lists them, revokes them (close 4003 on
/// the open socket, 401 `token_revoked` at the next handshake), keeps revocations across a
/// restart, and refuses every admin call without credentials once authentication is configured.
@Suite struct SessionsTests {
    static let adminSecret = "admin-secret-0123456789abcdef"

    static func config(backendPort: Int, stateDirectory: String? = nil, adminToken: String? = adminSecret) throws -> GatewayConfiguration {
        var config = try RelayTests.chatConfig(backendPort: backendPort)
        config.admin = AdminConfiguration(endpoint: SocketEndpoint(host: "127.0.0.1", port: 0), bearerToken: adminToken)
        config.stateDirectory = stateDirectory
        return config
    }

    /// One admin API call over a real socket.
    static func call(
        _ gateway: Gateway, _ method: HTTPMethod, _ path: String, body: String? = nil, token: String? = adminSecret
    ) async throws -> (status: Int, body: String, headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(gateway.adminAddress!.port!)\(path)")
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: bytes), response.headers)
    }

    static func json(_ text: String) throws -> [String: JSONValue] {
        guard case .object(let members) = try JSONValue(parsing: Array(text.utf8)) else { throw TestFailure("not an object: \(text)") }
        return members
    }

    /// The close frame a client receives: code and reason.
    static func closeFrame(_ code: UInt16, _ reason: String) -> TestClientEvent {
        .frame(opcode: .connectionClose, fin: true, data: [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8))
    }

    @Test func revokeBySubjectClosesHerSocketsWith4003AndRefusesHerToken() async throws {
        let alice = try GatewayHarness.token(["jti": "alice-1"])
        let bob = try GatewayHarness.token(["sub": "bob"])
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort)) { gateway, port in
                let (a1, _, _) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(alice)")])
                let (a2, _, _) = try await RelayTests.open(port: port, path: "/ws/rooms/1", headers: [("Authorization", "Bearer \(alice)")])
                let (b1, _, _) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(bob)")])

                let listed = try await Self.call(gateway, .GET, "/sessions?sub=alice")
                #expect(listed.status == 200)
                let listing = try Self.json(listed.body)
                #expect(listing["count"] == .integer(2))
                guard case .array(let sessions)? = listing["sessions"] else { throw TestFailure("no sessions array") }
                #expect(Set(sessions.compactMap { if case .object(let m) = $0 { m["route"]?.stringValue } else { nil } }) == ["/ws/chat", "/ws/rooms/*"])
                #expect(sessions.allSatisfy { if case .object(let m) = $0 { m["sub"] == "alice" && m["client"] != nil && m["instance"] != nil } else { false } })

                let revoked = try await Self.call(gateway, .POST, "/sessions/revoke", body: #"{"sub":"alice","reason":"stolen laptop"}"#)
                #expect(revoked.status == 200, "\(revoked.body)")
                let answer = try Self.json(revoked.body)
                #expect(answer["closed"] == .integer(2))

                for client in [a1, a2] {
                    #expect(await client.next() == Self.closeFrame(4003, "stolen laptop"))
                    try? await client.sendClose(code: 4003)
                    #expect(await client.next() == .closed)
                }
                // Bob is untouched.
                try await b1.send(text: "still here")
                #expect(await b1.nextText() == "Recv: still here")

                let (response, refused) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(alice)")])
                #expect(response.status == 401)
                #expect(response.body == #"{"status":401,"reason":"token_revoked"}"#)
                #expect(response.headers.first(name: "WWW-Authenticate") == #"Bearer realm="wsgate", error="invalid_token", error_description="token_revoked""#)
                #expect(refused == nil)
                #expect(gateway.rejectionLog.recent(limit: 1).first?.reason == "token_revoked")

                try await b1.sendClose(code: 1000)
                _ = await b1.next()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func issuedBeforeRevokesOlderTokensOnly() async throws {
        let now = Date().timeIntervalSince1970.rounded(.down)
        let old = try GatewayHarness.token(["iat": .integer(Int64(now) - 100)])
        let fresh = try GatewayHarness.token(["iat": .integer(Int64(now) + 1)])
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort)) { gateway, port in
                let (oldClient, _, _) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(old)")])
                let (freshClient, _, _) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(fresh)")])
                let revoked = try await Self.call(gateway, .POST, "/sessions/revoke", body: #"{"sub":"alice","issued_before":\#(Int64(now))}"#)
                #expect(try Self.json(revoked.body)["closed"] == .integer(1))
                #expect(await oldClient.next() == Self.closeFrame(4003, "revoked"))
                try await freshClient.send(text: "x")
                #expect(await freshClient.nextText() == "Recv: x")
                // Exactly at the edge: iat == issued_before is not earlier, so it is not revoked.
                let edge = try GatewayHarness.token(["iat": .integer(Int64(now))])
                let (edgeResponse, edgeClient) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(edge)")])
                #expect(edgeResponse.status == 101)
                await edgeClient?.abort()
                let (oldAgain, _) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(old)")])
                #expect(oldAgain.status == 401)
                await freshClient.abort()
                await oldClient.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func revokingOneSessionRefusesItsTokenButNotAnotherOfTheSameSubject() async throws {
        let firstExp = Int64(Date().timeIntervalSince1970) + 1800
        let first = try GatewayHarness.token(["jti": "t1", "exp": .integer(firstExp)])
        let second = try GatewayHarness.token(["jti": "t2"])
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort)) { gateway, port in
                let (c1, _, greeting) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(first)")])
                let (c2, _, _) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(second)")])
                // The session id is the request id the backend saw.
                let id = try #require(greeting.split(separator: "\n").first { $0.hasPrefix("X-Request-Id: ") }?.dropFirst(14))
                let revoked = try await Self.call(gateway, .POST, "/sessions/revoke", body: #"{"session":"\#(id)"}"#)
                let answer = try Self.json(revoked.body)
                #expect(answer["closed"] == .integer(1))
                guard case .object(let revocation)? = answer["revocation"] else { throw TestFailure("no revocation") }
                // Lasts until the token's exp.
                #expect(revocation["until"] == .integer(firstExp))
                #expect(revocation["token_sha256"] == nil)
                #expect(await c1.next() == Self.closeFrame(4003, "revoked"))
                try await c2.send(text: "y")
                #expect(await c2.nextText() == "Recv: y")
                let (again, _) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(first)")])
                #expect(again.status == 401)
                #expect(again.body == #"{"status":401,"reason":"token_revoked"}"#)
                let (other, otherClient) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(second)")])
                #expect(other.status == 101)
                await otherClient?.abort()
                await c2.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
        }
    }

    @Test func revocationsSurviveARestartAndCanBeLifted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsgate-state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let token = try GatewayHarness.token(["jti": "keep-me-out"])
        try await GatewayHarness.withEchoBackend { backendPort in
            let config = try Self.config(backendPort: backendPort, stateDirectory: directory)
            let id = try await GatewayHarness.withGateway(config) { gateway, _ in
                let revoked = try await Self.call(gateway, .POST, "/sessions/revoke", body: #"{"jti":"keep-me-out","until":\#(Int64(Date().timeIntervalSince1970) + 600)}"#)
                #expect(revoked.status == 200)
                guard case .object(let revocation)? = try Self.json(revoked.body)["revocation"] else { throw TestFailure("no revocation") }
                return try #require(revocation["id"]?.stringValue)
            }
            try await GatewayHarness.withGateway(config) { gateway, port in
                let (refused, _) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
                #expect(refused.status == 401)
                #expect(refused.body == #"{"status":401,"reason":"token_revoked"}"#)
                let listed = try Self.json(try await Self.call(gateway, .GET, "/revocations").body)
                #expect(listed["count"] == .integer(1))
                let lifted = try await Self.call(gateway, .DELETE, "/revocations/\(id)")
                #expect(lifted.status == 200)
                #expect(try await Self.call(gateway, .DELETE, "/revocations/\(id)").status == 404)
                let (accepted, client) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
                #expect(accepted.status == 101)
                await client?.abort()
                #expect(await GatewayHarness.settle(gateway))
            }
            // Lifted stays lifted across a restart too.
            let saved = try String(contentsOfFile: directory + "/revocations.jsonl", encoding: .utf8)
            #expect(saved == "")
        }
    }

    @Test func aDamagedStateFileIsReportedAndItsGoodLinesStillApply() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsgate-state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let until = Int64(Date().timeIntervalSince1970) + 600
        let good = #"{"id":"0123456789abcdef0123456789abcdef","kind":"sub","value":"alice","until":\#(until),"reason":"r","created_at":1}"#
        try (good + "\n{not json\n" + #"{"id":"zz","kind":"sub","value":"bob","until":1,"reason":"r","created_at":1}"# + "\n")
            .write(toFile: directory + "/revocations.jsonl", atomically: true, encoding: .utf8)
        let token = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, stateDirectory: directory)) { gateway, port in
                let (refused, _) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer \(token)")])
                #expect(refused.status == 401)
                #expect(gateway.revocations.map(\.id) == ["0123456789abcdef0123456789abcdef"])
            }
        }
        // The damaged original is kept beside the rewritten file.
        let kept = try String(contentsOfFile: directory + "/revocations.jsonl.damaged", encoding: .utf8)
        #expect(kept.contains("{not json"))
        let rewritten = try String(contentsOfFile: directory + "/revocations.jsonl", encoding: .utf8)
        #expect(rewritten.split(separator: "\n").count == 1)
    }

    @Test func everyAdminEndpointButTheProbesNeedsTheToken() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort)) { gateway, _ in
                let guarded: [(HTTPMethod, String, String?)] = [
                    (.GET, "/sessions", nil), (.POST, "/sessions/revoke", #"{"sub":"x"}"#), (.GET, "/revocations", nil),
                    (.DELETE, "/revocations/0123456789abcdef0123456789abcdef", nil), (.GET, "/metrics", nil),
                    (.GET, "/rejections", nil), (.POST, "/reload", nil),
                ]
                for (method, path, body) in guarded {
                    let none = try await Self.call(gateway, method, path, body: body, token: nil)
                    #expect(none.status == 401, "\(method) \(path)")
                    #expect(none.headers.first(name: "WWW-Authenticate") == #"Bearer realm="wsgate-admin""#)
                    // One character off, and a prefix of the secret: both refused.
                    let wrong = try await Self.call(gateway, method, path, body: body, token: String(Self.adminSecret.dropLast()) + "X")
                    #expect(wrong.status == 401, "\(method) \(path)")
                    #expect(wrong.headers.first(name: "WWW-Authenticate") == #"Bearer realm="wsgate-admin", error="invalid_token""#)
                    #expect(try await Self.call(gateway, method, path, body: body, token: String(Self.adminSecret.dropLast())).status == 401)
                }
                #expect(gateway.revocations.isEmpty)  // the unauthenticated revoke changed nothing
                for path in ["/healthz", "/readyz"] {
                    #expect(try await Self.call(gateway, .GET, path, token: nil).status == 200)
                }
                #expect(try await Self.call(gateway, .GET, "/sessions").status == 200)
                #expect(try await Self.call(gateway, .GET, "/metrics").status == 200)
            }
        }
    }

    @Test func adminScopesAcceptAJWTWithTheScopeOnly() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            var config = try Self.config(backendPort: backendPort, adminToken: nil)
            config.admin?.requiredScopes = ["wsgate.admin"]
            config.admin?.publicMetrics = true
            try await GatewayHarness.withGateway(config) { gateway, _ in
                let admin = try GatewayHarness.token(["scope": "read wsgate.admin"])
                let reader = try GatewayHarness.token(["scope": "read"])
                let expired = try GatewayHarness.token(["scope": "wsgate.admin"], ttl: -120)
                #expect(try await Self.call(gateway, .GET, "/sessions", token: admin).status == 200)
                let lacking = try await Self.call(gateway, .GET, "/sessions", token: reader)
                #expect(lacking.status == 403)
                #expect(lacking.headers.first(name: "WWW-Authenticate") == #"Bearer realm="wsgate-admin", error="insufficient_scope""#)
                #expect(try await Self.call(gateway, .GET, "/sessions", token: expired).status == 401)
                #expect(try await Self.call(gateway, .GET, "/metrics", token: nil).status == 200)
            }
        }
    }

    @Test(arguments: [
        (#"not json"#, nil as String?, "the body is not valid JSON"),
        (#"[1]"#, nil, "the body is not a JSON object"),
        (#"{}"#, nil, "name one of sub, jti, sid, session"),
        (#"{"sub":"a","jti":"b"}"#, "jti", "name only one of sub, jti, sid, session"),
        (#"{"sub":"a","color":"red"}"#, "color", "unknown field"),
        (#"{"sub":7}"#, "sub", "must be a string"),
        (#"{"sub":""}"#, "sub", "must be 1 to 1024 bytes"),
        (#"{"sub":"a","until":1}"#, "until", "is not in the future"),
        (#"{"sub":"a","issued_before":"yesterday"}"#, "issued_before", "must be a time in unix seconds"),
        (#"{"sub":"a","reason":"\#(String(repeating: "r", count: 124))"}"#, "reason", "is over 123 bytes (a close frame's limit)"),
        (#"{"sub":"a","reason":"a\nb"}"#, "reason", "holds a control character"),
        (#"{"sub":"a","sub":"b"}"#, nil, "the body has duplicate member names"),
    ])
    func badRevokeBodiesAreRefusedByField(body: String, field: String?, message: String) throws {
        #expect(throws: AdminRequestError(field: field, message)) {
            try RevokeRequest(body: Array(body.utf8), now: Date().timeIntervalSince1970)
        }
    }

    @Test func aRevokeReasonOfExactly123BytesIsAccepted() throws {
        let reason = String(repeating: "é", count: 61) + "x"  // 123 bytes
        let request = try RevokeRequest(body: Array(#"{"sub":"a","reason":"\#(reason)"}"#.utf8), now: 0)
        #expect(request.reason == reason)
    }

    @Test func badAdminRequestsGet400NamingTheFieldAndChangeNothing() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort)) { gateway, _ in
                let huge = try await Self.call(gateway, .GET, "/sessions?limit=100001")
                #expect(huge.status == 400)
                #expect(huge.body == #"{"error":"must be a whole number from 1 to 100000","field":"limit"}"#)
                #expect(try await Self.call(gateway, .GET, "/sessions?limit=100000").status == 200)
                #expect(try await Self.call(gateway, .GET, "/sessions?color=red").body == #"{"error":"unknown parameter","field":"color"}"#)
                let badID = try await Self.call(gateway, .DELETE, "/revocations/XYZ")
                #expect(badID.status == 400)
                #expect(badID.body == #"{"error":"must be 32 lowercase hex digits","field":"id"}"#)
                let bigBody = try await Self.call(gateway, .POST, "/sessions/revoke", body: String(repeating: " ", count: 65 * 1024))
                #expect(bigBody.status == 413)
                let unknown = try await Self.call(gateway, .POST, "/sessions/revoke", body: #"{"sub":"a","extra":1}"#)
                #expect(unknown.status == 400)
                #expect(unknown.body == #"{"error":"unknown field","field":"extra"}"#)
                #expect(gateway.revocations.isEmpty)
            }
        }
    }
}

/// A test-side failure with a message.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
