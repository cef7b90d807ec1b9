import GatewayHandshake
import GatewayAuth
import NIOHTTP1
import Testing

@testable import GatewayServer

/// PRODUCT.md's handshake pipeline table, row by row, through `HandshakePlanner.decide` alone: no
/// sockets, no clock (every decision is made at `PipelineFixture.now`), each outcome exact.
@Suite struct HandshakePipelineTests {
    /// One request and the exact outcome PRODUCT.md gives it (`101`/`forward` when it goes upstream).
    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var method: HTTPMethod = .GET
        var uri = "/ws/chat"
        var version: HTTPVersion = .http1_1
        var headers: [(String, String)] = []
        var standardHeaders = true
        var admission: Rejection?
        var status: Int
        var reason: String
        var testDescription: String { name }
    }

    static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer \(token)")] }

    static func rows() throws -> [Row] {
        let f = PipelineFixture.self
        let valid = try f.sign()
        let member = try f.sign(["role": .string("member"), "scope": .string("chat.write")])
        let adminNoScope = try f.sign(["role": .string("admin"), "scope": .string("chat.read")])
        let admin = try f.sign(["role": .string("admin"), "scope": .string("chat.read chat.write")])
        let adminScp = try f.sign(["role": .array([.string("guest"), .string("admin")]), "scp": .array([.string("chat.write")])])
        return [
            // Path well formed (RFC 3986 §5.2.4 dot segments; encoded separators refused).
            Row(name: "encoded slash", uri: "/ws/rooms/..%2Fchat", status: 400, reason: "bad_path"),
            Row(name: "above the root", uri: "/ws/../..", status: 400, reason: "bad_path"),
            Row(name: "bad path beats a bad method", method: .POST, uri: "/ws/rooms/%00", status: 400, reason: "bad_path"),
            // Route lookup: exact and prefix, near misses included.
            Row(name: "no route", uri: "/nope", status: 404, reason: "route_not_found"),
            Row(name: "exact route plus a character", uri: "/ws/chatX", status: 404, reason: "route_not_found"),
            Row(name: "exact route plus a segment", uri: "/ws/chat/x", status: 404, reason: "route_not_found"),
            Row(name: "prefix plus a character", uri: "/ws/roomsX", status: 404, reason: "route_not_found"),
            Row(name: "exact route in another case", uri: "/WS/chat", status: 404, reason: "route_not_found"),
            Row(name: "not a path", uri: "ws/chat", status: 404, reason: "route_not_found"),
            Row(name: "no route beats a bad method", method: .POST, uri: "/nope", status: 404, reason: "route_not_found"),
            Row(name: "prefix itself", uri: "/ws/rooms", status: 101, reason: "forward"),
            Row(name: "below the prefix", uri: "/ws/rooms/a/b", status: 101, reason: "forward"),
            // Method.
            Row(name: "POST", method: .POST, status: 405, reason: "method_not_allowed"),
            Row(name: "HEAD", method: .HEAD, status: 405, reason: "method_not_allowed"),
            Row(name: "method beats a missing upgrade", method: .PUT, standardHeaders: false, status: 405, reason: "method_not_allowed"),
            // RFC 6455 §4.2.1 opening handshake.
            Row(name: "no upgrade headers", standardHeaders: false, status: 400, reason: "bad_handshake"),
            Row(name: "HTTP/1.0", version: .http1_0, status: 400, reason: "bad_handshake"),
            Row(name: "15-byte key", headers: [("Host", "gw"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"), ("Sec-WebSocket-Version", "13")], standardHeaders: false, status: 400, reason: "bad_handshake"),
            Row(name: "a body", headers: [("Content-Length", "1")], status: 400, reason: "bad_handshake"),
            Row(name: "bad handshake beats a bad version", headers: [("Sec-WebSocket-Version", "8"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Host", "gw")], standardHeaders: false, status: 400, reason: "bad_handshake"),
            // RFC 6455 §4.4: only version 13.
            Row(name: "version 8", headers: [("Sec-WebSocket-Version", "8")] + PipelineFixture.upgradeWithoutVersion, standardHeaders: false, status: 426, reason: "unsupported_version"),
            Row(name: "versions 13 and 8", headers: [("Sec-WebSocket-Version", "8")], status: 426, reason: "unsupported_version"),
            Row(name: "version beats origin", uri: "/ws/origin", headers: [("Sec-WebSocket-Version", "12"), ("Origin", "https://evil.example")] + PipelineFixture.upgradeWithoutVersion, standardHeaders: false, status: 426, reason: "unsupported_version"),
            // Origin.
            Row(name: "foreign origin", uri: "/ws/origin", headers: [("Origin", "https://evil.example")], status: 403, reason: "origin_forbidden"),
            Row(name: "origin beats admission", uri: "/ws/origin", headers: [("Origin", "https://evil.example")], admission: .rateLimited, status: 403, reason: "origin_forbidden"),
            Row(name: "no origin on an origin route", uri: "/ws/origin", status: 101, reason: "forward"),
            Row(name: "origin on a route without a list", headers: [("Origin", "https://evil.example")] + bearer(valid), status: 101, reason: "forward"),
            // Admission: the handler's caps and rate, as the closure answers.
            Row(name: "rate limited", admission: .rateLimited, status: 429, reason: "rate_limited"),
            Row(name: "connection cap", admission: .connectionLimit, status: 503, reason: "connection_limit"),
            Row(name: "cluster stale", admission: .clusterUnavailable, status: 503, reason: "cluster_unavailable"),
            Row(name: "admission beats a bad token", headers: bearer("abc.def"), admission: .rateLimited, status: 429, reason: "rate_limited"),
            // Token found.
            Row(name: "no token", status: 401, reason: "token_missing"),
            Row(name: "Basic is not a token", headers: [("Authorization", "Basic YTpi")], status: 401, reason: "token_missing"),
            Row(name: "optional route without a token", uri: "/ws/opt", status: 101, reason: "forward"),
            Row(name: "no auth route ignores a bad token", uri: "/ws/rooms/1", headers: bearer("abc.def"), status: 101, reason: "forward"),
            // Well formed, one token only.
            Row(name: "two segments", headers: bearer("abc.def"), status: 401, reason: "token_malformed"),
            Row(name: "optional route with a bad token", uri: "/ws/opt", headers: bearer("abc.def"), status: 401, reason: "token_malformed"),
            Row(name: "two different tokens", uri: "/ws/chat?access_token=\(member)", headers: bearer(valid), status: 401, reason: "token_conflict"),
            // Key and algorithm.
            Row(name: "algorithm the key does not allow", headers: bearer(try f.sign(algorithm: .hs384)), status: 401, reason: "algorithm_not_allowed"),
            Row(name: "unknown kid", headers: bearer(try f.sign(kid: "zzz")), status: 401, reason: "unknown_key"),
            Row(name: "kid in another case", headers: bearer(try f.sign(kid: "A")), status: 401, reason: "unknown_key"),
            Row(name: "wrong secret", headers: bearer(try f.sign(secret: PipelineFixture.secretB)), status: 401, reason: "signature_invalid"),
            // exp / nbf (leeway 30 s; the exact edges are their own tests).
            Row(name: "expired beyond the leeway", headers: bearer(try f.sign(["exp": .integer(f.second - 31)])), status: 401, reason: "token_expired"),
            Row(name: "expired within the leeway", headers: bearer(try f.sign(["exp": .integer(f.second - 29)])), status: 101, reason: "forward"),
            Row(name: "not yet valid beyond the leeway", headers: bearer(try f.sign(["nbf": .integer(f.second + 31)])), status: 401, reason: "token_not_yet_valid"),
            Row(name: "not yet valid within the leeway", headers: bearer(try f.sign(["nbf": .integer(f.second + 29)])), status: 101, reason: "forward"),
            Row(name: "expired beats a wrong issuer", headers: bearer(try f.sign(["exp": .integer(f.second - 60), "iss": .string("https://evil.example")])), status: 401, reason: "token_expired"),
            // Revocation (PipelineFixture.revocations revokes sub mallory).
            Row(name: "revoked subject", headers: bearer(try f.sign(["sub": .string("mallory")])), status: 401, reason: "token_revoked"),
            // iss (RFC 7519 §4.1.1): exact string, present.
            Row(name: "no iss", headers: bearer(try f.sign(without: ["iss"])), status: 401, reason: "issuer_mismatch"),
            Row(name: "iss with a trailing slash", headers: bearer(try f.sign(["iss": .string("https://auth.example.com/")])), status: 401, reason: "issuer_mismatch"),
            Row(name: "iss in another case", headers: bearer(try f.sign(["iss": .string("https://AUTH.example.com")])), status: 401, reason: "issuer_mismatch"),
            Row(name: "iss a prefix", headers: bearer(try f.sign(["iss": .string("https://auth.example.co")])), status: 401, reason: "issuer_mismatch"),
            Row(name: "the second issuer", headers: bearer(try f.sign(["iss": .string("https://other.example.com")])), status: 101, reason: "forward"),
            Row(name: "wrong issuer beats a wrong audience", headers: bearer(try f.sign(["iss": .string("x"), "aud": .string("y")])), status: 401, reason: "issuer_mismatch"),
            // aud (RFC 7519 §4.1.3): a string or an array, one of them ours.
            Row(name: "no aud", headers: bearer(try f.sign(without: ["aud"])), status: 401, reason: "audience_mismatch"),
            Row(name: "aud a superstring", headers: bearer(try f.sign(["aud": .string("chats")])), status: 401, reason: "audience_mismatch"),
            Row(name: "aud a substring", headers: bearer(try f.sign(["aud": .string("cha")])), status: 401, reason: "audience_mismatch"),
            Row(name: "aud array without ours", headers: bearer(try f.sign(["aud": .array([.string("other"), .string("Chat")])])), status: 401, reason: "audience_mismatch"),
            Row(name: "aud empty array", headers: bearer(try f.sign(["aud": .array([])])), status: 401, reason: "audience_mismatch"),
            Row(name: "aud array with ours", headers: bearer(try f.sign(["aud": .array([.string("other"), .string("chat")])])), status: 101, reason: "forward"),
            // A NUL cannot reach a header: the claims set is refused as JSON (jansson without
            // JSON_ALLOW_NUL refuses \u0000).
            Row(name: "NUL in a claim", headers: bearer(try f.sign(["v": .string("a\u{0}b")])), status: 401, reason: "token_malformed"),
            Row(name: "aud not a string", headers: bearer(try f.sign(["aud": .integer(1)])), status: 401, reason: "token_malformed"),
            // Required claims and scopes (403, RFC 6750 §3.1 insufficient_scope).
            Row(name: "role not allowed", uri: "/ws/admin", headers: bearer(member), status: 403, reason: "claim_forbidden"),
            Row(name: "no role", uri: "/ws/admin", headers: bearer(valid), status: 403, reason: "claim_forbidden"),
            Row(name: "role but not the scope", uri: "/ws/admin", headers: bearer(adminNoScope), status: 403, reason: "claim_forbidden"),
            Row(name: "role and scope", uri: "/ws/admin", headers: bearer(admin), status: 101, reason: "forward"),
            Row(name: "role in an array and scp", uri: "/ws/admin", headers: bearer(adminScp), status: 101, reason: "forward"),
            Row(name: "forbidden claims after a valid token only", uri: "/ws/admin", headers: bearer(try f.sign(["role": .string("admin"), "aud": .string("x")])), status: 401, reason: "audience_mismatch"),
            // Everything right.
            Row(name: "valid token", headers: bearer(valid), status: 101, reason: "forward"),
        ]
    }

    @Test(arguments: try rows())
    func row(_ row: Row) throws {
        var admissionCalls = 0
        let decision = try PipelineFixture.decide(
            row.uri, method: row.method, version: row.version, headers: row.headers, standardHeaders: row.standardHeaders
        ) { _ in
            admissionCalls += 1
            return row.admission
        }
        let (status, reason) = PipelineFixture.outcome(decision)
        #expect(status == row.status)
        #expect(reason == row.reason)
        if case .reject(let rejection, _) = decision {
            // One source for both: the response, the log line and the metrics read `Rejection`.
            #expect(Rejection(reason: row.reason) == rejection)
        }
        // Admission is asked exactly once, and only of a valid upgrade on a known route.
        let admitted = !["bad_path", "route_not_found", "method_not_allowed", "bad_handshake", "unsupported_version", "origin_forbidden"].contains(row.reason)
        #expect(admissionCalls == (admitted ? 1 : 0))
    }

    // MARK: - Limits at their exact edges

    /// `exp` with a 30 s leeway: valid until `exp + 30`, refused from that instant (RFC 7519 §4.1.4:
    /// the current time MUST be before `exp`).
    @Test func expiryEdgeWithLeeway() throws {
        let exp = PipelineFixture.second + 100
        let token = try PipelineFixture.sign(["exp": .integer(exp)])
        let edge = Double(exp) + 30
        #expect(PipelineFixture.outcome(try PipelineFixture.decide(headers: Self.bearer(token), now: edge - 0.001)).reason == "forward")
        #expect(PipelineFixture.outcome(try PipelineFixture.decide(headers: Self.bearer(token), now: edge)).reason == "token_expired")
    }

    /// `nbf` with a 30 s leeway: refused until `nbf - 30`, valid from that instant (RFC 7519 §4.1.5).
    @Test func notBeforeEdgeWithLeeway() throws {
        let nbf = PipelineFixture.second + 100
        let token = try PipelineFixture.sign(["nbf": .integer(nbf)])
        let edge = Double(nbf) - 30
        #expect(PipelineFixture.outcome(try PipelineFixture.decide(headers: Self.bearer(token), now: edge)).reason == "forward")
        #expect(PipelineFixture.outcome(try PipelineFixture.decide(headers: Self.bearer(token), now: edge - 0.001)).reason == "token_not_yet_valid")
    }

    /// `auth.max_token_bytes`: a token of exactly that length verifies, one byte less refuses it.
    @Test func tokenSizeEdge() throws {
        let token = try PipelineFixture.sign()
        let length = token.utf8.count
        let atLimit = try PipelineFixture.decide(headers: Self.bearer(token), maxTokenBytes: length)
        #expect(PipelineFixture.outcome(atLimit).reason == "forward")
        let below = try PipelineFixture.decide(headers: Self.bearer(token), maxTokenBytes: length - 1)
        #expect(PipelineFixture.outcome(below).status == 401)
        #expect(PipelineFixture.outcome(below).reason == "token_malformed")
        guard case .reject(_, let context) = below else { return }
        #expect(context.detail == "the token is \(length) bytes; the limit is \(length - 1)")
    }

    /// The per-IP handshake rate: exactly `limit` handshakes in one second, the next refused,
    /// another IP unaffected, and a full allowance again in the next second.
    @Test(arguments: [1, 2, 5, 50])
    func rateLimitEdge(limit: Int) {
        let admission = Admission()
        let second = PipelineFixture.now.rounded(.down)
        for index in 0..<limit {
            #expect(admission.allowHandshake(from: "192.0.2.1", limit: limit, now: second + Double(index) / Double(limit + 1)), "handshake \(index + 1)")
        }
        #expect(!admission.allowHandshake(from: "192.0.2.1", limit: limit, now: second + 0.999))
        #expect(!admission.allowHandshake(from: "192.0.2.1", limit: limit, now: second + 0.999))
        #expect(admission.allowHandshake(from: "192.0.2.2", limit: limit, now: second + 0.999))
        for index in 0..<limit {
            #expect(admission.allowHandshake(from: "192.0.2.1", limit: limit, now: second + 1), "next second, handshake \(index + 1)")
        }
        #expect(!admission.allowHandshake(from: "192.0.2.1", limit: limit, now: second + 1.5))
        #expect(admission.allowHandshake(from: "192.0.2.1", limit: nil, now: second + 1.5))
    }

    // MARK: - allowed_origins

    /// `allowed_origins` is an exact match of the serialised origin (RFC 6454 §6.2), ASCII case
    /// aside (scheme and host are case-insensitive, §4): every near miss is refused.
    @Test(arguments: [
        ("https://app.example.com", true),
        ("HTTPS://APP.EXAMPLE.COM", true),
        ("http://localhost:3000", true),
        ("http://app.example.com", false),
        ("wss://app.example.com", false),
        ("https://app.example.com:443", false),
        ("https://app.example.com:8443", false),
        ("http://localhost:3001", false),
        ("http://localhost", false),
        ("https://app.example.com.", false),
        ("https://app.example.com/", false),
        ("https://app.example.com.evil.example", false),
        ("https://evilapp.example.com", false),
        ("https://sub.app.example.com", false),
        ("https://app.example.co", false),
        ("https://app.example.comm", false),
        (" https://app.example.com", false),
        ("https://app.example.com, https://evil.example", false),
        ("null", false),
        ("", false),
    ])
    func allowedOrigins(origin: String, allowed: Bool) throws {
        let decision = try PipelineFixture.decide("/ws/origin", headers: [("Origin", origin)])
        let (status, reason) = PipelineFixture.outcome(decision)
        #expect(status == (allowed ? 101 : 403))
        #expect(reason == (allowed ? "forward" : "origin_forbidden"))
    }

    // MARK: - Key selection by kid (RFC 7515 §4.1.4)

    /// One token against a key set: who signed it, what its header names, what must happen.
    struct KeyCase: CustomTestStringConvertible, Sendable {
        var name: String
        /// The only key's id (`oneKey`); unused with three keys.
        var keyID: String? = nil
        var kid: String?
        /// `a`, `b`, `c` or `d`: whose secret signed the token (`d` is no configured key's).
        var signer: String
        var algorithm: JWTAlgorithm = .hs256
        /// `auth.try_all_keys`: a kid-less token may try every key allowing its `alg`.
        var tryAllKeys = false
        var expected: String
        var testDescription: String { name }
    }

    /// Keys `a` (HS256), one without an id (`b`'s secret, HS256) and `c` (HS256, HS384). A token
    /// with a kid is verified by that key only; a token without one by the first key allowing its
    /// `alg` (one signature check per forged token, whatever the key count), or by any such key
    /// with `auth.try_all_keys`.
    @Test(arguments: [
        KeyCase(name: "no kid, first key", kid: nil, signer: "a", expected: "forward"),
        KeyCase(name: "no kid, the key without an id (not the first HS256 key)", kid: nil, signer: "b", expected: "signature_invalid"),
        KeyCase(name: "no kid, last key (not the first HS256 key)", kid: nil, signer: "c", expected: "signature_invalid"),
        KeyCase(name: "no kid, the key without an id, try_all_keys", kid: nil, signer: "b", tryAllKeys: true, expected: "forward"),
        KeyCase(name: "no kid, last key, try_all_keys", kid: nil, signer: "c", tryAllKeys: true, expected: "forward"),
        KeyCase(name: "no kid, last key, its second algorithm (the first HS384 key)", kid: nil, signer: "c", algorithm: .hs384, expected: "forward"),
        KeyCase(name: "no kid, no key has the secret", kid: nil, signer: "d", expected: "signature_invalid"),
        KeyCase(name: "no kid, no key has the secret, try_all_keys", kid: nil, signer: "d", tryAllKeys: true, expected: "signature_invalid"),
        KeyCase(name: "no kid, no key allows the algorithm", kid: nil, signer: "a", algorithm: .hs512, expected: "algorithm_not_allowed"),
        KeyCase(name: "kid a, a's secret", kid: "a", signer: "a", expected: "forward"),
        KeyCase(name: "kid a, the id-less key's secret", kid: "a", signer: "b", expected: "signature_invalid"),
        KeyCase(name: "kid a, c's secret", kid: "a", signer: "c", expected: "signature_invalid"),
        KeyCase(name: "kid c, HS384", kid: "c", signer: "c", algorithm: .hs384, expected: "forward"),
        KeyCase(name: "kid a, HS384 which only c allows", kid: "a", signer: "a", algorithm: .hs384, expected: "algorithm_not_allowed"),
        KeyCase(name: "kid b names no key, though the id-less key has the secret", kid: "b", signer: "b", expected: "unknown_key"),
        KeyCase(name: "empty kid", kid: "", signer: "b", expected: "unknown_key"),
    ])
    func keySelection(_ test: KeyCase) throws {
        let token = try PipelineFixture.sign(kid: test.kid, secret: PipelineFixture.secret(test.signer), algorithm: test.algorithm)
        let decision = try PipelineFixture.decide(headers: Self.bearer(token), keys: try PipelineFixture.threeKeys(), tryAllKeys: test.tryAllKeys)
        #expect(PipelineFixture.outcome(decision).reason == test.expected)
        if case .forward(let plan) = decision {
            #expect(plan.token?.kid == test.kid)
        }
    }

    /// A single key: without an id it verifies kid-less tokens and no kid names it; with an id it
    /// verifies kid-less tokens too. (The key's secret is `b`'s without an id, `a`'s with one.)
    @Test(arguments: [
        KeyCase(name: "id-less key, no kid", keyID: nil, kid: nil, signer: "b", expected: "forward"),
        KeyCase(name: "id-less key, a kid", keyID: nil, kid: "b", signer: "b", expected: "unknown_key"),
        KeyCase(name: "id-less key, no kid, other secret", keyID: nil, kid: nil, signer: "a", expected: "signature_invalid"),
        KeyCase(name: "key a, no kid", keyID: "a", kid: nil, signer: "a", expected: "forward"),
        KeyCase(name: "key a, no kid, other secret", keyID: "a", kid: nil, signer: "b", expected: "signature_invalid"),
        KeyCase(name: "key a, kid a", keyID: "a", kid: "a", signer: "a", expected: "forward"),
    ])
    func oneKey(_ test: KeyCase) throws {
        let key = try VerificationKey.hmac(secret: PipelineFixture.secret(test.keyID == nil ? "b" : "a"), id: test.keyID, algorithms: [.hs256])
        let token = try PipelineFixture.sign(kid: test.kid, secret: PipelineFixture.secret(test.signer))
        let decision = try PipelineFixture.decide(headers: Self.bearer(token), keys: KeySet([key]))
        #expect(PipelineFixture.outcome(decision).reason == test.expected)
    }

    // MARK: - Claims as header values

    /// What a claim becomes upstream (`claims_to_headers`): strings as they are, numbers and
    /// booleans as JSON, arrays of scalars joined with `,`, anything else as JSON text; a value
    /// with a control character (CR, LF, NUL, DEL, ...; tab allowed, RFC 9110 §5.5) or `null` sets
    /// no header at all, and the client's own header of that name never gets through.
    @Test(arguments: [
        (JSONValue.string("alice"), "alice"),
        (.string("a\tb"), "a\tb"),
        (.string("é ü ✓"), "é ü ✓"),
        (.string(""), ""),
        (.integer(42), "42"),
        (.integer(-7), "-7"),
        (.bool(true), "true"),
        (.bool(false), "false"),
        (.array([.string("a"), .string("b")]), "a,b"),
        (.array([.integer(1), .string("x"), .bool(false)]), "1,x,false"),
        (.array([.array([.integer(1)])]), "[[1]]"),
        (.object(["id": .string("o1")]), "{\"id\":\"o1\"}"),
        (.object(["k": .string("x\ny")]), "{\"k\":\"x\\ny\"}"),
        (.null, nil),
        (.string("a\r\nX-Admin: 1"), nil),
        (.string("a\nb"), nil),
        (.string("a\rb"), nil),
        (.string("a\u{1F}b"), nil),
        (.string("a\u{7F}b"), nil),
        (.string("a\u{1B}[31m"), nil),
        (.array([.string("ok"), .string("x\ny")]), nil),
    ] as [(JSONValue, String?)])
    func claimAsHeaderValue(value: JSONValue, expected: String?) throws {
        let token = try PipelineFixture.sign(["v": value])
        let decision = try PipelineFixture.decide(headers: Self.bearer(token) + [("X-V", "spoofed"), ("x-v", "spoofed too")])
        guard case .forward(let plan) = decision else {
            Issue.record("refused: \(PipelineFixture.outcome(decision))")
            return
        }
        #expect(plan.token?.headerValue(at: "v") == expected)
        #expect(plan.head.headers["X-V"] == (expected.map { [$0] } ?? []))
    }

    /// Nested paths (`org.id`), a missing claim and the subject: exact values, no spoofing.
    @Test func nestedAndMissingClaims() throws {
        let token = try PipelineFixture.sign(["org": .object(["id": .string("o-1"), "tier": .integer(3)])])
        let decision = try PipelineFixture.decide(headers: Self.bearer(token) + [("X-Org-Id", "evil"), ("X-Role", "admin"), ("X-User-Id", "bob")])
        guard case .forward(let plan) = decision else {
            Issue.record("refused: \(PipelineFixture.outcome(decision))")
            return
        }
        #expect(plan.head.headers["X-Org-Id"] == ["o-1"])
        #expect(plan.head.headers["X-Org-Tier"] == ["3"])
        #expect(plan.head.headers["X-Role"] == [])
        #expect(plan.head.headers["X-User-Id"] == ["alice"])
    }

    /// The last guard before a header value is written: exactly tab and 0x20...0x7E and bytes
    /// from 0x80 (UTF-8) pass (RFC 9110 §5.5 field-vchar, SP, HTAB, obs-text).
    @Test func safeHeaderValueBytes() {
        for byte in UInt8(0)...UInt8(0x7F) {
            let text = String(decoding: [UInt8(ascii: "a"), byte, UInt8(ascii: "b")], as: UTF8.self)
            let allowed = byte == 0x09 || (0x20...0x7E).contains(byte)
            #expect(HandshakePlanner.isSafeHeaderValue(text) == allowed, "byte \(byte)")
        }
        #expect(HandshakePlanner.isSafeHeaderValue("é"))
        #expect(HandshakePlanner.isSafeHeaderValue(""))
    }
}
