import GatewayHandshake
import GatewayServer
import GatewayTesting
import Logging
import NIOPosix
import Testing

/// What a reload cannot apply is named, each setting alone and all together; other changes
/// (routes, limits, keys) are not named.
@Suite struct StartupOnlySettingsTests {
    @Test func eachStartupOnlySettingIsNamedWhenItChanges() throws {
        var old = try GatewayHarness.configuration(routes: [])
        old.admin = AdminConfiguration(endpoint: SocketEndpoint(host: "127.0.0.1", port: 9901))
        let url = try PostgresURL(parsing: "postgres://u@h/d")
        old.cluster = ClusterConfiguration(postgres: url, instance: "a")
        #expect(Gateway.startupOnlyChanges(from: old, to: old) == [])

        var routesAndLimits = old
        routesAndLimits.routes = [RouteConfiguration(pattern: .exact("/x"), upstreams: [UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: 1))])]
        routesAndLimits.limits.maxConnections = 7
        routesAndLimits.auth.leewaySeconds = 30
        #expect(Gateway.startupOnlyChanges(from: old, to: routesAndLimits) == [])

        var each: [(GatewayConfiguration, [String])] = []
        var admin = old; admin.admin?.endpoint = SocketEndpoint(host: "127.0.0.1", port: 9902); each.append((admin, ["admin.address"]))
        var recent = old; recent.admin?.recentRejections = 10; each.append((recent, ["admin.recent_rejections"]))
        var cache = old; cache.auth.tokenCacheSize = 0; each.append((cache, ["auth.token_cache_size"]))
        var state = old; state.stateDirectory = "/tmp/elsewhere"; each.append((state, ["state_dir"]))
        var cluster = old; cluster.cluster?.pollIntervalSeconds = 5; each.append((cluster, ["cluster"]))
        var noCluster = old; noCluster.cluster = nil; each.append((noCluster, ["cluster"]))
        for (new, names) in each { #expect(Gateway.startupOnlyChanges(from: old, to: new) == names) }

        var all = admin
        all.admin?.recentRejections = 10; all.auth.tokenCacheSize = 0; all.stateDirectory = "/tmp/elsewhere"; all.cluster = nil
        #expect(Gateway.startupOnlyChanges(from: old, to: all) == ["admin.address", "admin.recent_rejections", "auth.token_cache_size", "state_dir", "cluster"])
    }

    /// A running gateway's reload logs the warning, naming the setting, and only when one changed.
    @Test func aReloadLogsTheSettingsItCannotApply() async throws {
        let recorder = JWKSUnsafeKeyTests.Recorder()
        let logger = Logger(label: "wsgate-reload") { _ in JWKSUnsafeKeyTests.RecordingHandler(recorder: recorder) }
        let config = try GatewayHarness.configuration(routes: [])
        let gateway = try await Gateway.start(configuration: config, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        #expect(await gateway.reload(config) == nil)
        var changed = config
        changed.auth.tokenCacheSize = 10
        #expect(await gateway.reload(changed) == nil)
        let warnings = recorder.all.filter { $0.hasPrefix("warning reload:") }
        #expect(warnings == ["warning reload: these settings changed but apply only at the next start; the running values stay settings=auth.token_cache_size"])
        try await gateway.shutdown(drainTimeout: .seconds(1))
    }
}
