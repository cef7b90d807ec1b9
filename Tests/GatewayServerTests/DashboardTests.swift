import AsyncHTTPClient
import Foundation
import GatewayAuth
@testable import GatewayServer
import GatewayHandshake
import GatewayTesting
import NIOCore
import NIOHTTP1
import Testing

/// The admin dashboard (README "Dashboard"): its static files load without the admin token and
/// carry the security headers, its data endpoints (`/api/stats`, `/api/keys`, `/api/config`) need
/// the token and answer exact JSON, the traffic series is bounded and counts exactly, no secret
/// reaches the page, and the embedded files are the ones under `dashboard/`.
@Suite struct DashboardTests {
    static let token = SessionsTests.adminSecret

    static func call(
        _ gateway: Gateway, _ method: HTTPMethod, _ path: String, body: String?, token: String?
    ) async throws -> (status: Int, body: String, headers: HTTPHeaders) {
        try await SessionsTests.call(gateway, method, path, body: body, token: token)
    }

    // MARK: The time series, without sockets

    @Test func seriesKeepsExactlyCapacitySamplesAndRendersTheAskedWindow() {
        let series = TrafficSeries(capacity: 3)
        for second in Int64(10)...13 {
            series.append(TrafficSample(second: second, routes: ["/a": .init(accepted: Int(second), rejected: [:])]))
        }
        // 4 appended, 3 kept: the oldest (second 10) is gone.
        #expect(series.samples.map(\.second) == [11, 12, 13])
        #expect(series.json(seconds: 3, end: 13, open: ["/a": 2]) ==
            #"{"resolution":1,"end":13,"seconds":3,"routes":[{"route":"/a","open":2,"accepted":[11,12,13],"rejected":{}}],"reasons":{}}"#)
        // A window larger than the capacity is cut to it; seconds without a sample count 0.
        #expect(series.json(seconds: 5, end: 14, open: [:]) ==
            #"{"resolution":1,"end":14,"seconds":3,"routes":[{"route":"/a","open":0,"accepted":[12,13,0],"rejected":{}}],"reasons":{}}"#)
    }

    @Test func seriesSumsReasonsOverRoutesAndListsOnlyReasonsThatOccurred() {
        let series = TrafficSeries()
        series.append(TrafficSample(second: 100, routes: [
            "/a": .init(accepted: 1, rejected: ["token_expired": 2]),
            "-": .init(accepted: 0, rejected: ["route_not_found": 1]),
        ]))
        series.append(TrafficSample(second: 101, routes: ["/a": .init(accepted: 0, rejected: ["token_expired": 1, "unknown_key": 4])]))
        // Second 99 is in the window (end 101, 3 seconds), second 98 would not be.
        series.append(TrafficSample(second: 99, routes: ["/b": .init(accepted: 7, rejected: [:])]))
        #expect(series.json(seconds: 3, end: 101, open: ["/a": 0, "/b": 1]) == """
            {"resolution":1,"end":101,"seconds":3,"routes":[\
            {"route":"-","open":0,"accepted":[0,0,0],"rejected":{"route_not_found":[0,1,0]}},\
            {"route":"/a","open":0,"accepted":[0,1,0],"rejected":{"token_expired":[0,2,1],"unknown_key":[0,0,4]}},\
            {"route":"/b","open":1,"accepted":[7,0,0],"rejected":{}}],\
            "reasons":{"route_not_found":[0,1,0],"token_expired":[0,2,1],"unknown_key":[0,0,4]}}
            """)
        #expect(series.json(seconds: 2, end: 101, open: [:]).contains(#""route":"/b""#) == false)
    }

    @Test func countersDrainToZeroAndKeepTheOpenGauge() {
        let counters = TrafficCounters()
        let route = counters.route("/a")
        #expect(counters.route("/a") === route)
        route.accepted.wrappingIncrement(ordering: .relaxed)
        route.reject(.tokenExpired)
        route.reject(.tokenExpired)
        route.reject(.routeNotFound)
        route.open.wrappingIncrement(ordering: .relaxed)
        #expect(counters.drain(second: 5) == TrafficSample(second: 5, routes: [
            "/a": .init(accepted: 1, rejected: ["token_expired": 2, "route_not_found": 1]),
        ]))
        #expect(counters.drain(second: 6) == TrafficSample(second: 6))
        #expect(counters.openConnections == ["/a": 1])
    }

    // MARK: Through a real gateway

    static func config(backendPort: Int, adminToken: String? = token) throws -> GatewayConfiguration {
        try SessionsTests.config(backendPort: backendPort, adminToken: adminToken)
    }

    /// The per-route sums of one stats answer: accepted, and rejections by reason.
    static func sums(_ body: String) throws -> [String: [String: Int]] {
        let members = try SessionsTests.json(body)
        guard case .array(let routes)? = members["routes"] else { throw TestFailure("no routes: \(body)") }
        var out: [String: [String: Int]] = [:]
        for case .object(let route) in routes {
            guard case .string(let label)? = route["route"], case .array(let accepted)? = route["accepted"],
                  case .object(let rejected)? = route["rejected"], case .integer(let open)? = route["open"] else {
                throw TestFailure("bad route object in \(body)")
            }
            var counts = ["accepted": accepted.reduce(0) { if case .integer(let n) = $1 { $0 + Int(n) } else { $0 } }, "open": Int(open)]
            for (reason, values) in rejected {
                guard case .array(let values) = values else { throw TestFailure("bad series") }
                counts[reason] = values.reduce(0) { if case .integer(let n) = $1 { $0 + Int(n) } else { $0 } }
            }
            out[label] = counts
        }
        return out
    }

    @Test func statsCountHandshakesAndRejectionsPerRouteAndReasonAndOpenConnectionsNow() async throws {
        let alice = try GatewayHarness.token()
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort)) { gateway, port in
                let (missing, _) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [])
                let (bad, _) = try await TestWebSocketClient.connect(port: port, path: "/ws/chat", headers: [("Authorization", "Bearer x.y.z")])
                let (unknown, _) = try await TestWebSocketClient.connect(port: port, path: "/nowhere", headers: [])
                #expect(missing.status == 401 && bad.status == 401 && unknown.status == 404)
                // Each rejection is counted before its connection closes: once idle, all are in.
                #expect(await GatewayHarness.settle(gateway))
                let (client, _, _) = try await RelayTests.open(port: port, headers: [("Authorization", "Bearer \(alice)")])
                // The timer takes a sample each second; take one now rather than wait for it.
                gateway.runtime.trafficSeries.append(gateway.runtime.traffic.drain(second: Int64(Date().timeIntervalSince1970)))

                let stats = try await Self.call(gateway, .GET, "/api/stats", body: nil, token: Self.token)
                #expect(stats.status == 200, "\(stats.body)")
                #expect(try Self.sums(stats.body) == [
                    "/ws/chat": ["accepted": 1, "open": 1, "token_missing": 1, "token_malformed": 1],
                    "/ws/rooms/*": ["accepted": 0, "open": 0],
                    "-": ["accepted": 0, "open": 0, "route_not_found": 1],
                ])
                let members = try SessionsTests.json(stats.body)
                #expect(members["seconds"] == .integer(900) && members["resolution"] == .integer(1))
                guard case .object(let reasons)? = members["reasons"] else { throw TestFailure("no reasons") }
                #expect(Set(reasons.keys) == ["token_missing", "token_malformed", "route_not_found"])

                // The window's bounds: 1 and 900 seconds are allowed, 0 and 901 are not.
                let one = try await Self.call(gateway, .GET, "/api/stats?seconds=1", body: nil, token: Self.token)
                let oneMembers = try SessionsTests.json(one.body)
                #expect(one.status == 200 && oneMembers["seconds"] == .integer(1))
                for refused in ["0", "901", "x"] {
                    let answer = try await Self.call(gateway, .GET, "/api/stats?seconds=\(refused)", body: nil, token: Self.token)
                    #expect(answer.status == 400 && answer.body == #"{"error":"must be 1 to 900","field":"seconds"}"#, "\(refused): \(answer.body)")
                }

                try await client.sendClose(code: 1000)
                _ = await client.next()
                #expect(await GatewayHarness.settle(gateway))
                let after = try await Self.call(gateway, .GET, "/api/stats", body: nil, token: Self.token)
                #expect(try Self.sums(after.body)["/ws/chat"]?["open"] == 0)
            }
        }
    }

    @Test func configAndKeysShowRoutesLimitsAndKeysButNoSecret() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            var config = try Self.config(backendPort: backendPort)
            config.routes[0].upstreams = [UpstreamTarget(url: "ws://127.0.0.1:\(backendPort)/backend?api_key=upstream-secret")!]
            config.routes[0].maxConnections = 10
            config.routes[0].tokenRefresh = TokenRefreshSettings(notifyBefore: .seconds(60), grace: .milliseconds(1500))
            config.limits.maxConnectionsPerSubject = 3
            try await GatewayHarness.withGateway(config) { gateway, _ in
                let keys = try await Self.call(gateway, .GET, "/api/keys", body: nil, token: Self.token)
                #expect(keys.status == 200)
                #expect(keys.body == #"{"local":[{"kid":"test-hs","type":"HMAC 35 bytes","algorithms":["HS256"]}],"remote":[]}"#)

                let answer = try await Self.call(gateway, .GET, "/api/config", body: nil, token: Self.token)
                #expect(answer.status == 200)
                let routes = """
                    [{"path":"/ws/chat","upstreams":["ws://127.0.0.1:\(backendPort)/backend?…"],"auth":"required","require_claims":{},\
                    "require_scopes":[],"claims_to_headers":{"sub":"X-User-Id","org.id":"X-Org-Id"},"forward_token":false,\
                    "token_sources":["header","query:access_token","cookie:wsgate_token","subprotocol"],"expiry_close_code":4001,\
                    "max_connections":10,"token_refresh":{"notify_before_ms":60000,"grace_ms":1500}},\
                    {"path":"/ws/rooms/*","upstreams":["ws://127.0.0.1:\(backendPort)/backend"],"auth":"optional","require_claims":{},\
                    "require_scopes":[],"claims_to_headers":{},"forward_token":false,\
                    "token_sources":["header","query:access_token","cookie:wsgate_token","subprotocol"],"expiry_close_code":4001}]
                    """
                let limits = """
                    {"handshake_timeout_ms":5000,"upstream_timeout_ms":5000,"idle_timeout_ms":120000,"drain_timeout_ms":30000,\
                    "max_header_bytes":16384,"max_frame_bytes":1048576,"max_message_bytes":16777216,"max_connections":100000,\
                    "max_connections_per_subject":3}
                    """
                let auth = #"{"issuers":[],"audiences":[],"leeway_seconds":0,"max_token_bytes":8192,"token_sources":["header","query:access_token","cookie:wsgate_token","subprotocol"],"try_all_keys":false,"token_cache_size":1024}"#
                let admin = #"{"authentication":true,"public_metrics":false,"recent_rejections":1000,"allowed_origins":[]}"#
                #expect(answer.body == """
                    {"instance":"\(gateway.instanceName)","started_at":\(Gateway.seconds(gateway.runtime.startedAt)),"routes":\(routes),\
                    "limits":\(limits),"auth":\(auth),"admin":\(admin),"revocation_default_ttl_seconds":86400,"cluster":false}
                    """)
                // Neither the admin token, the HMAC secret nor the upstream's query reaches the page.
                for text in [keys.body, answer.body] {
                    #expect(!text.contains(Self.token) && !text.contains("upstream-secret") && !text.contains("wsgate-test-secret"))
                }
            }
        }
    }

    @Test func remoteKeySetsShowKidsFetchTimesAndTheLastError() async throws {
        let key = try JWKSRefresherTests.Signer(.es256, kid: "remote-1")
        try await JWKSServer.with(reply: .document(JWKSServer.document([key.jwk]))) { server in
            let set = RemoteKeySetConfiguration(url: server.url + "?tenant=t1", refreshInterval: .milliseconds(200), minimumRefreshInterval: .milliseconds(50))
            // The refresher's schedule runs on a clock the test advances (no waiting for intervals).
            let clock = ManualClock()
            let start = clock.now
            try await JWKSRefresherTests.withRefreshingGateway([set], clock: clock) { gateway, _, refresher in
                #expect(await clock.waitForSleeper(until: start + .milliseconds(200)))
                clock.advance(by: .milliseconds(200))
                let good = await JWKSRefresherTests.firstEvent(of: refresher) { if case .refreshed = $0 { true } else { false } }
                #expect(good != nil)
                var remote = try Self.remoteSet(gateway.keysJSON())
                #expect(remote["url"] == .string("http://127.0.0.1:\(server.port)/jwks.json?…"))
                #expect(remote["keys"] == Self.remoteKeys)
                #expect(remote["last_error"] == nil && remote["failures"] == .integer(0))
                guard case .integer(let fetched)? = remote["fetched"], fetched >= 1 else { throw TestFailure("fetched: \(remote)") }
                let now = Date().timeIntervalSince1970
                #expect(remote["last_attempt"]?.doubleValue.map { abs($0 - now) < 5 } == true)
                #expect(remote["next_fetch"]?.doubleValue.map { $0 > now - 1 && $0 < now + 5 } == true)

                server.serve(.status(500))
                #expect(await clock.waitForSleeper(until: start + .milliseconds(400)))
                clock.advance(by: .milliseconds(200))
                let failed = await JWKSRefresherTests.firstEvent(of: refresher) { if case .failed = $0 { true } else { false } }
                #expect(failed != nil)
                remote = try Self.remoteSet(gateway.keysJSON())
                #expect(remote["failures"].map { if case .integer(let n) = $0 { n >= 1 } else { false } } == true)
                #expect(remote["last_error"]?.stringValue?.contains("500") == true, "\(remote)")
                // The last good keys still serve, and are still shown.
                #expect(remote["keys"] == Self.remoteKeys)
                #expect(!gateway.keysJSON().contains("tenant=t1"))
            }
        }
    }

    static let remoteKeys = JSONValue.array([.object(["kid": .string("remote-1"), "type": .string("EC P-256"), "algorithms": .array([.string("ES256")])])])

    static func remoteSet(_ body: String) throws -> [String: JSONValue] {
        guard case .array(let sets)? = try SessionsTests.json(body)["remote"], sets.count == 1, case .object(let set) = sets[0] else {
            throw TestFailure("not one remote set: \(body)")
        }
        return set
    }

    // MARK: The page and who may read what

    static let securityHeaders = [
        "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    ]

    @Test func staticFilesLoadWithoutTheTokenAndEveryDataCallNeedsIt() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort)) { gateway, _ in
                for (path, type, marker) in [("/", "text/html; charset=utf-8", #"<meta name="wsgate-admin-auth" content="required">"#),
                                             ("/ui/app.js", "text/javascript; charset=utf-8", "\"use strict\";"),
                                             ("/ui/app.css", "text/css; charset=utf-8", ".chart svg"),
                                             ("/ui/icon.svg", "image/svg+xml", "<svg ")] {
                    let answer = try await Self.call(gateway, .GET, path, body: nil, token: nil)
                    #expect(answer.status == 200, "\(path)")
                    #expect(answer.headers["Content-Type"] == [type])
                    #expect(answer.body.contains(marker), "\(path)")
                    for (name, value) in Self.securityHeaders { #expect(answer.headers[name] == [value], "\(path) \(name)") }
                }
                // Exactly those: any other path, even beside them, needs the token.
                for path in ["/api/stats", "/api/keys", "/api/config", "/sessions", "/rejections", "/revocations", "/metrics",
                             "/ui/", "/ui/app.json", "/index.html", "/favicon.ico", "/ui/../api/keys"] {
                    let refused = try await Self.call(gateway, .GET, path, body: nil, token: nil)
                    #expect(refused.status == 401, "\(path)")
                    let wrong = try await Self.call(gateway, .GET, path, body: nil, token: "not-the-token")
                    #expect(wrong.status == 401, "\(path)")
                    for (name, value) in Self.securityHeaders { #expect(refused.headers[name] == [value], "\(path) \(name)") }
                }
                // A state change on a static path is not allowed, token or not.
                #expect(try await Self.call(gateway, .POST, "/", body: "", token: nil).status == 405)
            }
        }
    }

    @Test func withoutAdminAuthenticationThePageSaysSo() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, adminToken: nil)) { gateway, _ in
                let page = try await Self.call(gateway, .GET, "/", body: nil, token: nil)
                #expect(page.body.contains(#"<meta name="wsgate-admin-auth" content="none">"#))
                #expect(try await Self.call(gateway, .GET, "/api/config", body: nil, token: nil).status == 200)
            }
        }
    }

    @Test func stateChangesFromAnotherOriginAreRefused() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            try await GatewayHarness.withGateway(try Self.config(backendPort: backendPort, adminToken: nil)) { gateway, _ in
                let admin = "127.0.0.1:\(gateway.adminAddress!.port!)"
                let body = #"{"sub":"nobody","reason":"csrf"}"#
                for (origin, expected) in [("http://evil.example", 403), ("http://\(admin).evil.example", 403), ("null", 403),
                                           ("http://\(admin)", 200)] {
                    var request = HTTPClientRequest(url: "http://\(admin)/sessions/revoke")
                    request.method = .POST
                    request.headers.add(name: "Origin", value: origin)
                    request.body = .bytes(ByteBuffer(string: body))
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                    let status = Int(response.status.code)
                    let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                    #expect(status == expected, "\(origin): \(text)")
                    if expected == 403 { #expect(text == #"{"error":"cross-origin request refused"}"#) }
                }
                // Nothing was revoked by the refused requests: one revocation, from the same-origin one.
                #expect(gateway.revocations.count == 1)
            }
        }
    }

    /// Behind a proxy that rewrites `Host` (the browser's Origin is the proxy's address, Host is
    /// the admin listener's), `admin.allowed_origins` names the dashboard's origin: exactly that
    /// origin (any case) passes, near misses are still refused.
    @Test func anAllowedOriginPassesBehindAHostRewritingProxy() async throws {
        try await GatewayHarness.withEchoBackend { backendPort in
            var config = try Self.config(backendPort: backendPort, adminToken: nil)
            config.admin?.allowedOrigins = ["https://admin.example.com"]
            try await GatewayHarness.withGateway(config) { gateway, _ in
                let admin = "127.0.0.1:\(gateway.adminAddress!.port!)"
                for (origin, expected) in [("https://admin.example.com", 200), ("HTTPS://Admin.Example.com", 200),
                                           ("https://admin.example.com:8443", 403), ("http://admin.example.com", 403),
                                           ("https://admin.example.com.evil.example", 403), ("http://evil.example", 403)] {
                    var request = HTTPClientRequest(url: "http://\(admin)/sessions/revoke")
                    request.method = .POST
                    request.headers.add(name: "Origin", value: origin)
                    request.body = .bytes(ByteBuffer(string: #"{"sub":"nobody","reason":"proxied"}"#))
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                    let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                    #expect(Int(response.status.code) == expected, "\(origin): \(text)")
                }
                #expect(gateway.revocations.count == 2)
                let shown = try await Self.call(gateway, .GET, "/api/config", body: nil, token: nil)
                #expect(shown.body.contains(#""admin":{"authentication":false,"public_metrics":false,"recent_rejections":1000,"allowed_origins":["https://admin.example.com"]}"#), "\(shown.body)")
            }
        }
    }

    /// The EmbedDashboard build plugin's escaping keeps every byte of dashboard/ (quotes,
    /// backslashes and `${…}` in app.js, non-ASCII text).
    @Test func embeddedAssetsMatchTheDashboardSources() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for (embedded, file) in [(DashboardAssets.indexHTML, "index.html"), (DashboardAssets.appCSS, "app.css"), (DashboardAssets.appJS, "app.js"), (DashboardAssets.iconSVG, "icon.svg")] {
            let source = try String(contentsOf: root.appendingPathComponent("dashboard/\(file)"), encoding: .utf8)
            #expect(embedded == source, "dashboard/\(file) is not what the EmbedDashboard plugin embedded")
        }
        // The page loads nothing inline: no <script> body, no style attribute, no inline handler.
        let page = DashboardAssets.indexHTML
        #expect(!page.contains("<style") && !page.contains("style=") && page.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil && page.contains(#"<script src="/ui/app.js" defer></script>"#))
        #expect(!DashboardAssets.appJS.contains("innerHTML") && !DashboardAssets.appJS.contains("eval("))
    }
}
