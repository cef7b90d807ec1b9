import GatewayConfig
import Testing

/// One malformed config and the single problem it must produce.
struct ProblemCase: Sendable, CustomTestStringConvertible {
    /// Names the case in test output.
    var name: String
    /// The whole YAML document.
    var yaml: String
    /// Expected key path.
    var path: String
    /// Expected line.
    var line: Int?
    /// Text the message must contain.
    var message: String
    /// Environment override (default: the fixture's).
    var environment: [String: String]? = nil

    var testDescription: String { name }
}

/// Lines 1–6: a listener and an HMAC key; a case's own lines start at line 7.
private let head = """
    listen:
      - address: 127.0.0.1:8080
    keys:
      - id: hs-main
        algorithms: [HS256]
        secret_env: WSGATE_HS_SECRET

    """
/// Lines 7–9: one route, so that a case's own lines start at line 10.
private let route = """
    routes:
      - path: /ws
        upstream: ws://127.0.0.1:9001/

    """
/// Lines 3–6: an open route after a case's two listener lines.
private let openRoute = """
    routes:
      - path: /ws
        upstream: ws://127.0.0.1:9001/
        auth: none
    """

let problemCases: [ProblemCase] = [
    // Structure and types.
    ProblemCase(name: "unknown top-level key", yaml: head + route + "rout: []", path: "rout", line: 10,
                message: "unknown key \"rout\"; did you mean \"routes\"?"),
    ProblemCase(name: "unknown route key", yaml: head + route + "    upstreams: ws://x/", path: "routes[0].upstreams", line: 10,
                message: "unknown key \"upstreams\"; did you mean \"upstream\"?"),
    ProblemCase(name: "root is a list", yaml: "- a\n- b", path: "", line: 1, message: "expected a mapping, got a list"),
    ProblemCase(name: "YAML syntax error", yaml: "listen:\n  - address: [127.0.0.1:8080\nroutes: []\n", path: "", line: 3,
                message: "YAML syntax error"),
    ProblemCase(name: "duplicate YAML key", yaml: head + route + "listen: []", path: "", line: 1, message: "duplicate key \"listen\""),
    // Routes.
    ProblemCase(name: "upstream not ws", yaml: head + "routes:\n  - path: /ws\n    upstream: http://x\n", path: "routes[0].upstream", line: 9,
                message: "\"http://x\" is not a ws:// or wss:// URL"),
    ProblemCase(name: "upstream list item not ws", yaml: head + "routes:\n  - path: /ws\n    upstream:\n      - ws://a:1/\n      - tcp://b\n",
                path: "routes[0].upstream[1]", line: 11, message: "\"tcp://b\" is not a ws:// or wss:// URL"),
    ProblemCase(name: "upstream missing", yaml: head + "routes:\n  - path: /ws\n", path: "routes[0].upstream", line: 8, message: "is required"),
    ProblemCase(name: "path without slash", yaml: head + "routes:\n  - path: ws\n    upstream: ws://a/\n", path: "routes[0].path", line: 8,
                message: "\"ws\" must start with /"),
    ProblemCase(name: "path with query", yaml: head + "routes:\n  - path: /ws?x=1\n    upstream: ws://a/\n", path: "routes[0].path", line: 8,
                message: "queries never take part"),
    ProblemCase(name: "path with inner star", yaml: head + "routes:\n  - path: /ws/*/x\n    upstream: ws://a/\n", path: "routes[0].path", line: 8,
                message: "* is only allowed as a final /*"),
    ProblemCase(name: "duplicate path", yaml: head + route + "  - path: /ws\n    upstream: ws://b/\n", path: "routes[1].path", line: 10,
                message: "\"/ws\" is already routed by routes[0]"),
    ProblemCase(name: "auth mode", yaml: head + route + "    auth: sometimes", path: "routes[0].auth", line: 10,
                message: "expected one of required, optional, none, got \"sometimes\""),
    ProblemCase(name: "expiry close code", yaml: head + route + "    expiry_close_code: 3000", path: "routes[0].expiry_close_code", line: 10,
                message: "3000 is not a close code to send on expiry"),
    ProblemCase(name: "header name", yaml: head + route + "    claims_to_headers:\n      sub: X User\n", path: "routes[0].claims_to_headers.sub",
                line: 11, message: "\"X User\" is not a valid header name (RFC 7230 §3.2.6 token)"),
    ProblemCase(name: "reserved header", yaml: head + route + "    claims_to_headers: {sub: Host}", path: "routes[0].claims_to_headers.sub",
                line: 10, message: "Host is set by the handshake or the gateway itself"),
    ProblemCase(name: "header set twice", yaml: head + route + "    claims_to_headers: {sub: X-User, name: x-user}",
                path: "routes[0].claims_to_headers.name", line: 10, message: "header x-user is already set from claim sub"),
    ProblemCase(name: "claim path", yaml: head + route + "    claims_to_headers: {\"org..id\": X-Org}", path: "routes[0].claims_to_headers[\"org..id\"]",
                line: 10, message: "is not a claim path"),
    ProblemCase(name: "bool type", yaml: head + route + "    forward_token: \"yes\"", path: "routes[0].forward_token", line: 10,
                message: "expected true or false, got \"yes\""),
    ProblemCase(name: "required claim is a mapping", yaml: head + route + "    require_claims:\n      org: {id: 5}\n",
                path: "routes[0].require_claims.org", line: 11, message: "expected a value (string, number, true/false), got a mapping"),
    ProblemCase(name: "scope with a space", yaml: head + route + "    require_scopes: [\"chat.read chat.write\"]", path: "routes[0].require_scopes[0]",
                line: 10, message: "contains a space"),
    ProblemCase(name: "origin with a path", yaml: head + route + "    allowed_origins: [https://app.example.com/]", path: "routes[0].allowed_origins[0]",
                line: 10, message: "\"https://app.example.com/\" is not an origin"),
    ProblemCase(name: "ca file without wss", yaml: head + route + "    insecure_skip_verify: true", path: "routes[0].insecure_skip_verify",
                line: 10, message: "only applies to wss:// upstreams"),
    ProblemCase(name: "claims on an open route", yaml: head + route + "    auth: none\n    claims_to_headers: {sub: X-User}\n",
                path: "routes[0].claims_to_headers", line: 11, message: "has no effect on a route with auth: none"),
    ProblemCase(name: "route max_connections", yaml: head + route + "    max_connections: 0", path: "routes[0].max_connections", line: 10,
                message: "0 is too small; it must be at least 1"),
    // Auth.
    ProblemCase(name: "cookie without a name", yaml: head + route + "auth:\n  token_sources: [header, cookie]", path: "auth.token_sources[1]",
                line: 11, message: "a cookie source needs a name: cookie:NAME"),
    ProblemCase(name: "unknown token source", yaml: head + route + "auth:\n  token_sources: [body]", path: "auth.token_sources[0]", line: 11,
                message: "unknown token source \"body\""),
    ProblemCase(name: "token source twice", yaml: head + route + "auth:\n  token_sources: [query, query:access_token]", path: "auth.token_sources[1]",
                line: 11, message: "is listed twice"),
    ProblemCase(name: "leeway in ms", yaml: head + route + "auth:\n  leeway: 500ms", path: "auth.leeway", line: 11,
                message: "must be a whole number of seconds"),
    ProblemCase(name: "token larger than headers", yaml: head + route + "auth:\n  max_token_bytes: 64KiB", path: "auth.max_token_bytes", line: 11,
                message: "64KiB does not fit in limits.max_header_bytes (16KiB)"),
    // Limits, listeners and the rest.
    ProblemCase(name: "duration", yaml: head + route + "limits:\n  idle_timeout: 5 minutes", path: "limits.idle_timeout", line: 11,
                message: "expected a duration such as 500ms, 30s, 5m or 1h, got \"5 minutes\""),
    ProblemCase(name: "zero timeout", yaml: head + route + "limits:\n  handshake_timeout: 0s", path: "limits.handshake_timeout", line: 11,
                message: "must be greater than 0"),
    ProblemCase(name: "decimal size unit", yaml: head + route + "limits:\n  max_frame_bytes: 1MB", path: "limits.max_frame_bytes", line: 11,
                message: "uses a decimal unit"),
    ProblemCase(name: "size", yaml: head + route + "limits:\n  max_message_bytes: big", path: "limits.max_message_bytes", line: 11,
                message: "expected a size such as 8192, 64KiB or 1MiB, got \"big\""),
    ProblemCase(name: "integer", yaml: head + route + "limits:\n  max_connections: lots", path: "limits.max_connections", line: 11,
                message: "expected an integer, got \"lots\""),
    // drain_delay + drain_spread must end before drain_timeout: equal is already too long.
    ProblemCase(name: "drain spread reaching the timeout", yaml: head + route + "limits:\n  drain_timeout: 10s\n  drain_delay: 4s\n  drain_spread: 6s",
                path: "limits.drain_spread", line: 13,
                message: "drain_delay (4s) + drain_spread (6s) must be shorter than drain_timeout (10s), which bounds the whole drain"),
    ProblemCase(name: "drain delay past the default timeout", yaml: head + route + "limits:\n  drain_delay: 30s",
                path: "limits.drain_delay", line: 11,
                message: "drain_delay (30s) + drain_spread (0s) must be shorter than drain_timeout (30s)"),
    ProblemCase(name: "negative drain spread", yaml: head + route + "limits:\n  drain_spread: -1s",
                path: "limits.drain_spread", line: 11, message: "must not be negative"),
    ProblemCase(name: "listener name with a colon", yaml: "listen:\n  - address: 127.0.0.1:8080\n    name: a:b\n" + openRoute,
                path: "listen[0].name", line: 3, message: "a socket name is up to 255 printable ASCII characters without spaces or ':'"),
    ProblemCase(name: "listener name twice", yaml: "listen:\n  - address: 127.0.0.1:8080\n    name: public\n  - address: 127.0.0.1:8081\n    name: public\n" + openRoute,
                path: "listen[1].name", line: 5, message: "\"public\" is already the name of listen[0]"),
    ProblemCase(name: "frame larger than message", yaml: head + route + "limits:\n  max_frame_bytes: 2MiB\n  max_message_bytes: 1MiB",
                path: "limits.max_frame_bytes", line: 11, message: "max_frame_bytes (2MiB) is larger than max_message_bytes (1MiB)"),
    ProblemCase(name: "CIDR", yaml: head + route + "trusted_proxies: [10.0.0.0/33]", path: "trusted_proxies[0]", line: 10,
                message: "\"10.0.0.0/33\" is not a CIDR block"),
    ProblemCase(name: "rejection log key", yaml: head + route + "rejection_log:\n  file: x.log", path: "rejection_log.file", line: 11,
                message: "unknown key \"file\""),
    ProblemCase(name: "admin on a listener's address", yaml: head + route + "admin:\n  address: 127.0.0.1:8080", path: "admin.address", line: 11,
                message: "127.0.0.1:8080 is also listen[0].address"),
    ProblemCase(name: "admin beyond loopback without auth", yaml: head + route + "admin:\n  address: 0.0.0.0:9090", path: "admin.address", line: 11,
                message: "0.0.0.0:9090 is not a loopback address: set admin.token_file, admin.token_env or admin.require_scopes"),
    ProblemCase(name: "admin token env unset", yaml: head + route + "admin:\n  address: 0.0.0.0:9090\n  token_env: NOPE", path: "admin.token_env",
                line: 12, message: "environment variable NOPE is not set"),
    ProblemCase(name: "admin token too short", yaml: head + route + "admin:\n  address: 127.0.0.1:9090\n  token_env: SHORT", path: "admin.token_env",
                line: 12, message: "the admin token is 15 bytes; use at least 16", environment: ["WSGATE_HS_SECRET": ConfigFixture.secret, "SHORT": "123456789012345"]),
    ProblemCase(name: "admin origin with a path", yaml: head + route + "admin:\n  address: 127.0.0.1:9090\n  allowed_origins: [https://admin.example.com/]",
                path: "admin.allowed_origins[0]", line: 12, message: "\"https://admin.example.com/\" is not an origin"),
    ProblemCase(name: "admin origin wildcard", yaml: head + route + "admin:\n  address: 127.0.0.1:9090\n  allowed_origins: [\"*\"]",
                path: "admin.allowed_origins[0]", line: 12, message: "\"*\" is not an origin"),
    ProblemCase(name: "admin origins empty", yaml: head + route + "admin:\n  address: 127.0.0.1:9090\n  allowed_origins: []",
                path: "admin.allowed_origins", line: 12, message: "is empty; leave allowed_origins out to allow same-origin requests only"),
    ProblemCase(name: "admin token file and env", yaml: head + route + "admin:\n  address: 127.0.0.1:9090\n  token_env: A\n  token_file: b",
                path: "admin.token_env", line: 12, message: "give token_file or token_env, not both"),
    ProblemCase(name: "admin scopes empty", yaml: head + route + "admin:\n  address: 0.0.0.0:9090\n  require_scopes: []", path: "admin.require_scopes",
                line: 12, message: "list at least one scope"),
    ProblemCase(name: "revocation ttl", yaml: head + route + "revocation:\n  default_ttl: 0s", path: "revocation.default_ttl", line: 11,
                message: "must be at least 1s"),
    ProblemCase(name: "address without port", yaml: "listen:\n  - address: localhost\n" + openRoute, path: "listen[0].address", line: 2,
                message: "\"localhost\" has no port"),
    ProblemCase(name: "IPv6 without brackets", yaml: "listen:\n  - address: \"::1:8080\"\n" + openRoute, path: "listen[0].address", line: 2,
                message: "an IPv6 address needs brackets"),
    ProblemCase(name: "port out of range", yaml: "listen:\n  - address: 0.0.0.0:70000\n" + openRoute, path: "listen[0].address", line: 2,
                message: "\"70000\" is not a port"),
    ProblemCase(name: "listener twice", yaml: "listen:\n  - address: 0.0.0.0:80\n  - address: 0.0.0.0:80\n" + openRoute, path: "listen[1].address",
                line: 3, message: "0.0.0.0:80 is already used by listen[0]"),
    ProblemCase(name: "TLS file missing", yaml: "listen:\n  - address: 0.0.0.0:443\n    tls: {certificate_file: nope.crt, private_key_file: /dev/null}\n" + openRoute,
                path: "listen[0].tls.certificate_file", line: 3, message: "nope.crt"),
    ProblemCase(name: "no listeners", yaml: openRoute, path: "listen", line: nil, message: "at least one listener is required"),
    ProblemCase(name: "no routes", yaml: "listen:\n  - address: 0.0.0.0:80\nroutes: []", path: "routes", line: 3, message: "at least one route is required"),
    ProblemCase(name: "route needs keys", yaml: "listen:\n  - address: 0.0.0.0:80\n" + route, path: "routes[0].auth", line: 4,
                message: "route /ws verifies tokens (auth: required) but no keys are configured"),
    // Keys.
    ProblemCase(name: "unknown algorithm", yaml: keysHead + "  - algorithms: [HS257]\n    secret_env: WSGATE_HS_SECRET", path: "keys[0].algorithms[0]",
                line: 7, message: "unknown algorithm \"HS257\""),
    ProblemCase(name: "algorithm none", yaml: keysHead + "  - algorithms: [HS256, None]\n    secret_env: WSGATE_HS_SECRET", path: "keys[0].algorithms[1]",
                line: 7, message: "\"None\" is never accepted"),
    ProblemCase(name: "algorithm case", yaml: keysHead + "  - algorithms: [hs256]\n    secret_env: WSGATE_HS_SECRET", path: "keys[0].algorithms[0]",
                line: 7, message: "did you mean \"HS256\"?"),
    ProblemCase(name: "two key sources", yaml: keysHead + "  - algorithms: [HS256]\n    secret_env: WSGATE_HS_SECRET\n    secret_file: hs.key", path: "keys[0]",
                line: 7, message: "a key takes exactly one of secret_env, secret_file"),
    ProblemCase(name: "no key source", yaml: keysHead + "  - id: a\n    algorithms: [HS256]", path: "keys[0]", line: 7,
                message: "a key needs one of secret_env, secret_file, public_key_file, jwks_file or jwks_url"),
    ProblemCase(name: "jwks_url over plain http", yaml: keysHead + "  - jwks_url: http://auth.example.com/jwks.json\n    refresh_interval: 10m", path: "keys[0].jwks_url",
                line: 7, message: "http:// is only for loopback hosts"),
    ProblemCase(name: "jwks_url not a URL", yaml: keysHead + "  - jwks_url: auth.example.com/jwks.json", path: "keys[0].jwks_url",
                line: 7, message: "is not an absolute https:// URL"),
    ProblemCase(name: "jwks_url ftp", yaml: keysHead + "  - jwks_url: ftp://auth.example.com/jwks.json", path: "keys[0].jwks_url",
                line: 7, message: "is not an https:// URL"),
    ProblemCase(name: "jwks_url with an id", yaml: keysHead + "  - id: x\n    jwks_url: https://auth.example.com/jwks.json", path: "keys[0].id",
                line: 7, message: "id does not apply to jwks_url"),
    ProblemCase(name: "jwks_url bounds crossed", yaml: keysHead + "  - jwks_url: https://auth.example.com/jwks.json\n    min_refresh_interval: 10m\n    max_refresh_interval: 1m",
                path: "keys[0].min_refresh_interval", line: 8, message: "is more than max_refresh_interval"),
    ProblemCase(name: "jwks_url interval outside bounds", yaml: keysHead + "  - jwks_url: https://auth.example.com/jwks.json\n    refresh_interval: 10s\n    min_refresh_interval: 1m",
                path: "keys[0].refresh_interval", line: 8, message: "must be between min_refresh_interval (1m)"),
    ProblemCase(name: "jwks_url listed twice", yaml: keysHead + "  - jwks_url: https://auth.example.com/jwks.json\n  - jwks_url: https://auth.example.com/jwks.json",
                path: "keys[1].jwks_url", line: 8, message: "is already keys[0].jwks_url"),
    ProblemCase(name: "tls_ca_file on http", yaml: keysHead + "  - jwks_url: http://127.0.0.1:8000/jwks.json\n    tls_ca_file: ca.pem",
                path: "keys[0].tls_ca_file", line: 8, message: "only applies to an https:// jwks_url"),
    ProblemCase(name: "cache_file in a missing directory", yaml: keysHead + "  - jwks_url: https://auth.example.com/jwks.json\n    cache_file: nowhere/jwks.json",
                path: "keys[0].cache_file", line: 8, message: "does not exist"),
    ProblemCase(name: "jwks_url with a secret", yaml: keysHead + "  - jwks_url: https://auth.example.com/jwks.json\n    secret_env: WSGATE_HS_SECRET",
                path: "keys[0]", line: 7, message: "a key takes exactly one of secret_env, jwks_url"),
    ProblemCase(name: "cache_file without url", yaml: keysHead + "  - jwks_file: jwks.json\n    cache_file: jwks.cache.json", path: "keys[0].cache_file",
                line: 8, message: "cache_file only applies to jwks_url"),
    ProblemCase(name: "refresh without url", yaml: keysHead + "  - jwks_file: jwks.json\n    refresh_interval: 10m", path: "keys[0].refresh_interval",
                line: 8, message: "refresh_interval only applies to jwks_url"),
    ProblemCase(name: "HMAC secret with RS256", yaml: keysHead + "  - algorithms: [RS256]\n    secret_env: WSGATE_HS_SECRET", path: "keys[0].algorithms",
                line: 7, message: "an HMAC secret cannot verify RS256"),
    ProblemCase(name: "public key with HS256", yaml: keysHead + "  - algorithms: [HS256]\n    public_key_file: rsa.pem", path: "keys[0].algorithms",
                line: 7, message: "a public key cannot verify HS256; HS256 needs a shared secret"),
    ProblemCase(name: "algorithms missing", yaml: keysHead + "  - secret_env: WSGATE_HS_SECRET", path: "keys[0].algorithms", line: 7,
                message: "is required for an HMAC secret"),
    ProblemCase(name: "secret env unset", yaml: keysHead + "  - algorithms: [HS256]\n    secret_env: WSGATE_NOT_SET", path: "keys[0].secret_env", line: 8,
                message: "environment variable WSGATE_NOT_SET is not set"),
    ProblemCase(name: "secret file missing", yaml: keysHead + "  - algorithms: [HS256]\n    secret_file: missing.key", path: "keys[0].secret_file",
                line: 8, message: "does not exist"),
    ProblemCase(name: "public key file missing", yaml: keysHead + "  - algorithms: [RS256]\n    public_key_file: missing.pem",
                path: "keys[0].public_key_file", line: 8, message: "file missing.pem"),
    ProblemCase(name: "jwks file missing", yaml: keysHead + "  - jwks_file: missing.json", path: "keys[0].jwks_file", line: 7,
                message: "file missing.json"),
    ProblemCase(name: "duplicate kid", yaml: keysHead + "  - id: a\n    algorithms: [HS256]\n    secret_env: WSGATE_HS_SECRET\n  - id: a\n    algorithms: [HS384]\n    secret_env: WSGATE_HS_SECRET",
                path: "keys[1].id", line: 10, message: "kid \"a\" is already used by keys[0]"),
    ProblemCase(name: "secret in the YAML", yaml: keysHead + "  - algorithms: [HS256]\n    secret: hunter2hunter2\n    secret_env: WSGATE_HS_SECRET", path: "keys[0].secret", line: 8,
                message: "unknown key \"secret\"; secrets never go in the config file: use secret_env or secret_file"),
    ProblemCase(name: "id on jwks", yaml: keysHead + "  - id: x\n    jwks_file: missing.json", path: "keys[0].id", line: 7,
                message: "does not apply to jwks_file"),
]

@Suite("Configuration problems")
struct ConfigurationProblemTests {
    @Test("each malformed config reports its one problem with key path and line", arguments: problemCases)
    func reportsProblem(_ testCase: ProblemCase) {
        let fixture = ConfigFixture()
        let problems = fixture.problems(testCase.yaml, environment: testCase.environment ?? ConfigFixture.environment)
        guard let problem = single(problems) else { return }
        #expect(problem.path == testCase.path, "\(problem)")
        #expect(problem.line == testCase.line, "\(problem)")
        #expect(problem.message.contains(testCase.message), "\(problem)")
        #expect(!problem.description.contains("\n"))
    }

    @Test("the description reads path (line N): message")
    func descriptionFormat() {
        #expect(ConfigurationProblem(path: "routes[1].upstream", line: 14, message: "\"http://x\" is not a ws:// or wss:// URL").description
                == "routes[1].upstream (line 14): \"http://x\" is not a ws:// or wss:// URL")
        #expect(ConfigurationProblem(path: "listen", line: nil, message: "m").description == "listen: m")
        #expect(ConfigurationProblem(path: "", line: 3, message: "m").description == "line 3: m")
        #expect(ConfigurationProblem(path: "", line: nil, message: "m").description == "m")
    }

    @Test("several problems are all reported, ordered by line")
    func severalProblems() {
        let yaml = """
            listen:
              - address: nowhere
            keys:
              - id: a
                algorithms: [HS999]
                secret_env: WSGATE_HS_SECRET
            routes:
              - path: ws
                upstream: http://backend
                auth: maybe
                colour: blue
              - path: /ok
                upstream: ws://127.0.0.1:9001/
            limits:
              idle_timeout: forever
              max_frame_bytes: 2MB
            """
        let problems = ConfigFixture().problems(yaml)
        #expect(problems.map(\.path) == [
            "listen[0].address", "keys[0].algorithms[0]", "routes[0].path", "routes[0].upstream", "routes[0].auth",
            "routes[0].colour", "limits.idle_timeout", "limits.max_frame_bytes",
        ], "\(problems.map(\.description))")
        #expect(problems.map(\.line) == [2, 5, 8, 9, 10, 11, 15, 16])
        let error = ConfigurationProblems(problems)
        #expect(error.description.split(separator: "\n").count == problems.count)
    }

    @Test("a secret never appears in a problem, even when the key is refused")
    func secretNeverInMessages() {
        let fixture = ConfigFixture()
        let short = "tooshort"
        let long = ConfigFixture.secret
        fixture.write("short.key", short + "\n")
        let yaml = """
            listen:
              - address: 127.0.0.1:8080
            keys:
              - id: env-short
                algorithms: [HS256]
                secret_env: SHORT_SECRET
              - id: file-short
                algorithms: [HS256]
                secret_file: short.key
              - id: wrong-alg
                algorithms: [RS256]
                secret_env: WSGATE_HS_SECRET
            routes:
              - path: /ws
                upstream: ws://127.0.0.1:9001/
            """
        let problems = fixture.problems(yaml, environment: ["SHORT_SECRET": short, "WSGATE_HS_SECRET": long])
        #expect(problems.map(\.path) == ["keys[0].secret_env", "keys[1].secret_file", "keys[2].algorithms"], "\(problems)")
        for problem in problems {
            #expect(!problem.description.contains(short))
            #expect(!problem.description.contains(long))
        }
    }
}
