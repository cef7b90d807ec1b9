import Foundation
import GatewayAuth
import GatewayConfig
import GatewayHandshake
import Testing

@Suite("Configuration loading")
struct ConfigurationLoaderTests {
    @Test("config/demo.yaml loads: two routes, claims_to_headers sub → X-User-Id, HS256 key from WSGATE_DEMO_SECRET")
    func demoConfigLoads() throws {
        let config = try ConfigurationLoader.load(path: ConfigFixture.repositoryConfigDirectory + "/demo.yaml", environment: ConfigFixture.environment)
        #expect(config.listeners.map(\.endpoint) == [SocketEndpoint(host: "127.0.0.1", port: 8080)])
        #expect(config.admin?.endpoint == SocketEndpoint(host: "127.0.0.1", port: 9090))
        #expect(config.keys.keys.count == 1)
        #expect(config.keys.keys.first?.id == "demo")
        #expect(config.keys.keys.first?.algorithms == [.hs256])
        #expect(config.routes.map(\.pattern) == [.exact("/wss/demo"), .exact("/wss/public")])
        #expect(config.routes.map(\.auth) == [.required, .none])
        #expect(config.routes[0].claimsToHeaders == [ClaimHeader(claim: "sub", header: "X-User-Id")])
        for route in config.routes {
            #expect(route.upstreams == [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: 9001), path: "/")])
        }
        #expect(config.summary == "2 routes, 1 key, listeners 127.0.0.1:8080, admin 127.0.0.1:9090")
    }

    @Test("config/demo.yaml without its secret names the variable, never a value")
    func demoConfigWithoutSecret() {
        do {
            _ = try ConfigurationLoader.load(path: ConfigFixture.repositoryConfigDirectory + "/demo.yaml", environment: [:])
            Issue.record("loaded without WSGATE_DEMO_SECRET")
        } catch {
            #expect(error.problems.map(\.description) == ["keys[0].secret_env (line 13): environment variable WSGATE_DEMO_SECRET is not set"])
        }
    }

    @Test("config/wsgate.example.yaml loads with every key it documents")
    func exampleConfigLoads() throws {
        let config = try ConfigurationLoader.load(path: ConfigFixture.repositoryConfigDirectory + "/wsgate.example.yaml", environment: ConfigFixture.environment)
        #expect(config.listeners.count == 1)
        #expect(config.routes.count == 3)
        #expect(Set(config.keys.keys.compactMap(\.id)) == ["hs-main", "rsa-2026", "ec-2026", "ed-2026"])
        #expect(config.auth.issuers == ["https://auth.example.com"])
        #expect(config.auth.leewaySeconds == 30)
        #expect(config.auth.maxTokenBytes == 8192)
        #expect(config.auth.tokenSources == [.header, .query(name: "access_token"), .cookie(name: "wsgate_token"), .subprotocol])
        #expect(config.routes[1].pattern == .prefix("/ws/rooms"))
        #expect(config.routes[1].upstreams.count == 2)
        #expect(config.routes[1].upstreams.allSatisfy { $0.secure })
        #expect(config.limits.keepaliveInterval == .seconds(30))
        #expect(config.trustedProxies.map(\.description) == ["10.0.0.0/8", "fd00:0:0:0:0:0:0:0/8", "127.0.0.1/32"])
    }

    @Test("a full route: upstream list, TLS options, claims with their YAML types, header order kept")
    func fullRoute() throws {
        let fixture = ConfigFixture()
        fixture.write("ca/backend.pem", "-----BEGIN CERTIFICATE-----\n")
        let config = try fixture.load("""
            listen:
              - address: "[::1]:0"
                proxy_protocol: yes
            keys:
              - id: hs-main
                algorithms: [HS256, HS512]
                secret_env: WSGATE_HS_SECRET
            routes:
              - path: /ws/rooms/*
                upstream:
                  - wss://10.0.0.1:9443/rooms
                  - ws://backend/rooms?v=2
                tls_ca_file: ca/backend.pem
                insecure_skip_verify: false
                auth: optional
                require_claims:
                  role: [admin, member]
                  level: 3
                  ratio: 1.5
                  verified: true
                  nothing: ~
                  quoted: "42"
                require_scopes: chat.write
                claims_to_headers:
                  sub: X-User-Id
                  org.id: X-Org-Id
                  role: X-Role
                forward_payload_header: X-JWT-Claims
                forward_token: true
                allowed_origins: [https://app.example.com, "http://localhost:3000"]
                token_sources: [query:t, cookie:session]
                expiry_close_code: 4401
                max_connections: 10
            """)
        let route = try #require(config.routes.first)
        #expect(config.listeners.first?.endpoint == SocketEndpoint(host: "::1", port: 0))
        #expect(config.listeners.first?.proxyProtocol == true)
        #expect(route.pattern == .prefix("/ws/rooms"))
        #expect(route.upstreams.map(\.description) == ["wss://10.0.0.1:9443/rooms", "ws://backend:80/rooms?v=2"])
        #expect(route.upstreams.allSatisfy { $0.caFile == fixture.directory + "/ca/backend.pem" && !$0.insecureSkipVerify })
        #expect(route.auth == .optional)
        #expect(route.requirements.claims == [
            ClaimRequirement(path: "role", allowed: [.string("admin"), .string("member")]),
            ClaimRequirement(path: "level", allowed: [.integer(3)]),
            ClaimRequirement(path: "ratio", allowed: [.number(1.5)]),
            ClaimRequirement(path: "verified", allowed: [.bool(true)]),
            ClaimRequirement(path: "nothing", allowed: [.null]),
            ClaimRequirement(path: "quoted", allowed: [.string("42")]),
        ])
        #expect(route.requirements.scopes == ["chat.write"])
        #expect(route.claimsToHeaders == [
            ClaimHeader(claim: "sub", header: "X-User-Id"),
            ClaimHeader(claim: "org.id", header: "X-Org-Id"),
            ClaimHeader(claim: "role", header: "X-Role"),
        ])
        #expect(route.forwardPayloadHeader == "X-JWT-Claims")
        #expect(route.forwardToken)
        #expect(route.allowedOrigins == ["https://app.example.com", "http://localhost:3000"])
        #expect(route.tokenSources == [.query(name: "t"), .cookie(name: "session")])
        #expect(route.expiryCloseCode == 4401)
        #expect(route.maxConnections == 10)
    }

    @Test("defaults: auth required, close code 4001, stderr rejection log, default limits and token sources")
    func defaults() throws {
        let config = try ConfigFixture().load(minimalYAML())
        let route = try #require(config.routes.first)
        #expect(route.auth == .none)
        #expect(route.expiryCloseCode == 4001)
        #expect(route.tokenSources == nil && route.allowedOrigins == nil && route.maxConnections == nil)
        #expect(config.rejectionLog.destination == .standardError)
        #expect(config.auth.tokenSources == TokenSource.defaultOrder)
        #expect(config.limits.maxFrameBytes == 1 << 20)
        #expect(config.admin == nil)
        #expect(config.keys.keys.isEmpty)
    }

    @Test("allowed_origins: [\"*\"] allows any origin, like leaving it out")
    func anyOrigin() throws {
        let config = try ConfigFixture().load(minimalYAML("    allowed_origins: [\"*\"]"))
        #expect(config.routes.first?.allowedOrigins == nil)
    }

    @Test("limits take durations and sizes with units")
    func limits() throws {
        let config = try ConfigFixture().load(minimalYAML("""
            limits:
              handshake_timeout: 500ms
              upstream_timeout: 2
              idle_timeout: 5m
              drain_timeout: 1h
              max_header_bytes: 8KiB
              max_frame_bytes: 64KiB
              max_message_bytes: 4MiB
              max_connections: 1000
              max_handshakes_per_ip_per_second: 20
              max_connections_per_subject: 3
              keepalive_interval: 0
            """))
        #expect(config.limits.handshakeTimeout == .milliseconds(500))
        #expect(config.limits.upstreamTimeout == .seconds(2))
        #expect(config.limits.idleTimeout == .minutes(5))
        #expect(config.limits.drainTimeout == .hours(1))
        #expect(config.limits.maxHeaderBytes == 8192)
        #expect(config.limits.maxFrameBytes == 65536)
        #expect(config.limits.maxMessageBytes == 4 << 20)
        #expect(config.limits.maxConnections == 1000)
        #expect(config.limits.maxHandshakesPerIPPerSecond == 20)
        #expect(config.limits.maxConnectionsPerSubject == 3)
        #expect(config.limits.keepaliveInterval == nil)
        #expect(config.limits.drainDelay == .zero && config.limits.drainSpread == .zero)
    }

    @Test("idle_timeout: 1d and 1h30m, the spellings `wsgate rejections --since` takes, load exactly")
    func durationsInDays() throws {
        let days = try ConfigFixture().load(minimalYAML("""
            limits:
              idle_timeout: 1d
              drain_timeout: 1h30m
            """))
        #expect(days.limits.idleTimeout == .hours(24))
        #expect(days.limits.drainTimeout == .minutes(90))
    }

    @Test("drain_delay and drain_spread: read, and allowed up to just under drain_timeout")
    func drainDelayAndSpread() throws {
        let config = try ConfigFixture().load(minimalYAML("""
            limits:
              drain_timeout: 10s
              drain_delay: 4s
              drain_spread: 5999ms
            """))
        #expect(config.limits.drainDelay == .seconds(4))
        #expect(config.limits.drainSpread == .milliseconds(5999))
        #expect(config.limits.drainTimeout == .seconds(10))
    }

    @Test("listen[].name names the systemd socket an entry takes")
    func listenerName() throws {
        let config = try ConfigFixture().load("""
            listen:
              - address: 127.0.0.1:8080
                name: public
              - address: 127.0.0.1:8081
            routes:
              - path: /ws
                upstream: ws://127.0.0.1:9001/
                auth: none
            """)
        #expect(config.listeners.map(\.name) == ["public", nil])
    }

    @Test("rejection_log: a file relative to the config, \"-\" for stderr, or disabled", arguments: [
        ("rejection_log: {path: logs/rejections.jsonl}", "file"),
        ("rejection_log: logs/rejections.jsonl", "file"),
        ("rejection_log: {path: \"-\"}", "stderr"),
        ("rejection_log: \"-\"", "stderr"),
        ("rejection_log: {enabled: false, path: x.log}", "disabled"),
    ])
    func rejectionLog(_ yaml: String, _ expected: String) throws {
        let fixture = ConfigFixture()
        let config = try fixture.load(minimalYAML(yaml))
        switch (config.rejectionLog.destination, expected) {
        case (.file(let path), "file"): #expect(path == fixture.directory + "/logs/rejections.jsonl")
        case (.standardError, "stderr"), (.disabled, "disabled"): break
        default: Issue.record("\(yaml) gave \(config.rejectionLog.destination)")
        }
    }

    @Test("listeners: IPv6, TLS files resolved against the config's directory")
    func listenersWithTLS() throws {
        let fixture = ConfigFixture()
        fixture.write("certs/tls.crt", "cert")
        fixture.write("certs/tls.key", "key")
        fixture.write("wsgate.yaml", """
            listen:
              - address: 0.0.0.0:8080
              - address: "[::]:8443"
                tls: {certificate_file: certs/tls.crt, private_key_file: certs/tls.key}
            admin: {address: "127.0.0.1:9090", recent_rejections: 50, allowed_origins: ["https://Admin.Example.com", "http://127.0.0.1:8000"]}
            routes:
              - path: /ws
                upstream: ws://127.0.0.1:9001/
                auth: none
            trusted_proxies: [10.0.0.0/8, "::1"]
            """)
        let config = try ConfigurationLoader.load(path: fixture.directory + "/wsgate.yaml", environment: [:])
        #expect(config.listeners.map(\.endpoint.description) == ["0.0.0.0:8080", "[::]:8443"])
        #expect(config.listeners[1].tls == TLSFiles(certificateFile: fixture.directory + "/certs/tls.crt", privateKeyFile: fixture.directory + "/certs/tls.key"))
        #expect(config.admin?.recentRejections == 50)
        #expect(config.admin?.allowedOrigins == ["https://admin.example.com", "http://127.0.0.1:8000"])
        #expect(config.trustedProxies.count == 2)
        #expect(config.summary == "1 route, 0 keys, listeners 0.0.0.0:8080, [::]:8443 (tls), admin 127.0.0.1:9090")
    }

    @Test("secret_file: raw bytes, trailing newline trimmed, relative to the config file")
    func secretFile() throws {
        let fixture = ConfigFixture()
        fixture.write("secrets/hs.key", ConfigFixture.secret + "\n")
        let config = try fixture.load("""
            listen: [{address: "127.0.0.1:0"}]
            keys:
              - {id: file-key, algorithms: [HS256], secret_file: secrets/hs.key}
            routes:
              - {path: /ws, upstream: "ws://127.0.0.1:9001/"}
            """)
        #expect(config.keys.keys.map(\.id) == ["file-key"])
        #expect(try KeyMaterialReader.secret(fromFile: fixture.directory + "/secrets/hs.key") == Array(ConfigFixture.secret.utf8))
    }

    @Test("an HMAC key loaded from the config verifies a token minted with the same secret")
    func loadedKeyVerifies() throws {
        let config = try ConfigFixture().load("""
            listen: [{address: "127.0.0.1:0"}]
            keys:
              - {id: k1, algorithms: [HS256], secret_env: WSGATE_HS_SECRET}
            auth: {issuers: [https://issuer.test], audiences: [chat], leeway: 10s}
            routes:
              - {path: /ws, upstream: "ws://127.0.0.1:9001/", require_claims: {role: admin}}
            """)
        let signer = try TokenSigner.hmac(.hs256, secret: Array(ConfigFixture.secret.utf8), kid: "k1")
        let token = try signer.sign(claims: ["sub": "alice", "iss": "https://issuer.test", "aud": "chat", "exp": 2_000_000_000, "role": "admin"])
        let verified = try JWTVerifier(keys: config.keys, policy: config.auth.policy).verify(token, now: 1_900_000_000)
        #expect(verified.subject == "alice")
        try verified.check(config.routes[0].requirements)
    }

    @Test("load(path:) reports an unreadable file as one problem")
    func missingConfigFile() {
        do {
            _ = try ConfigurationLoader.load(path: "/nonexistent/wsgate.yaml", environment: [:])
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.description.contains("/nonexistent/wsgate.yaml does not exist"))
        }
    }

    @Test("an empty document is one problem")
    func emptyDocument() {
        #expect(ConfigFixture().problems("# nothing here\n").map(\.message) == ["the config is empty"])
    }
}
