import Foundation
import GatewayConfig
import GatewayHandshake
import NIOCore
import Testing

/// `keys[].jwks_url` entries become `remoteKeySets`, fetched later by the gateway.
@Suite("Remote key sets in the config")
struct RemoteKeySetConfigTests {
    static let head = keysHead

    @Test("jwks_url with every option: intervals, algorithms, cache and CA files resolved against the config")
    func everyOption() throws {
        let fixture = ConfigFixture()
        fixture.write("ca.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        fixture.write("cache/.keep", "")
        let config = try fixture.load(Self.head + """
              - jwks_url: https://auth.example.com/.well-known/jwks.json
                refresh_interval: 10m
                min_refresh_interval: 15s
                max_refresh_interval: 2h
                algorithms: [RS256, ES256]
                cache_file: cache/jwks.json
                tls_ca_file: ca.pem
            """)
        #expect(config.keys.keys.isEmpty)
        let set = try #require(config.remoteKeySets.first)
        #expect(config.remoteKeySets.count == 1)
        #expect(set.url == "https://auth.example.com/.well-known/jwks.json")
        #expect(set.refreshInterval == .minutes(10))
        #expect(set.minimumRefreshInterval == .seconds(15))
        #expect(set.maximumRefreshInterval == .hours(2))
        #expect(set.algorithms == [.rs256, .es256])
        #expect(set.cacheFile == fixture.directory + "/cache/jwks.json")
        #expect(set.caFile == fixture.directory + "/ca.pem")
    }

    @Test("defaults: 5m, bounds 30s and 24h; a short interval lowers the unset minimum to fit")
    func defaults() throws {
        let fixture = ConfigFixture()
        let config = try fixture.load(Self.head + """
              - jwks_url: https://auth.example.com/jwks.json
              - jwks_url: https://other.example.com/jwks.json
                refresh_interval: 5s
            """)
        #expect(config.remoteKeySets.map(\.url) == ["https://auth.example.com/jwks.json", "https://other.example.com/jwks.json"])
        // `wsgate check` prints this: remote sets are counted, not silently missing.
        #expect(config.summary.contains("and 2 remote key sets (fetched at start: https://auth.example.com/jwks.json, https://other.example.com/jwks.json)"), "\(config.summary)")
        let first = config.remoteKeySets[0], second = config.remoteKeySets[1]
        #expect(first.refreshInterval == .minutes(5))
        #expect(first.minimumRefreshInterval == .seconds(30))
        #expect(first.maximumRefreshInterval == .hours(24))
        #expect(first.algorithms == nil && first.cacheFile == nil && first.caFile == nil)
        #expect(second.refreshInterval == .seconds(5))
        #expect(second.minimumRefreshInterval == .seconds(5))
    }

    @Test("http:// is accepted for loopback hosts, and elsewhere only with allow_insecure_http", arguments: [
        "http://127.0.0.1:8000/jwks.json", "http://localhost/jwks.json", "http://[::1]:8000/jwks.json",
    ])
    func loopbackHTTP(_ url: String) throws {
        let config = try ConfigFixture().load(Self.head + "  - jwks_url: \(url)\n")
        #expect(config.remoteKeySets.map(\.url) == [url])
    }

    @Test("allow_insecure_http: true lets a non-loopback http:// URL through")
    func insecureHTTP() throws {
        let config = try ConfigFixture().load(Self.head + "  - jwks_url: http://keys.internal/jwks.json\n    allow_insecure_http: true\n")
        #expect(config.remoteKeySets.map(\.url) == ["http://keys.internal/jwks.json"])
    }

    @Test("a jwks_url entry counts as configured keys for routes that verify tokens")
    func countsAsKeys() throws {
        let config = try ConfigFixture().load(Self.head + "  - jwks_url: https://auth.example.com/jwks.json\n")
        #expect(config.routes.first?.auth == .required)
    }
}
