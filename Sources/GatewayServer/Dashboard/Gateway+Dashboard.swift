import Foundation
import GatewayAuth
import GatewayText
import NIOCore

/// The data behind the admin dashboard (`GET /api/stats`, `/api/keys`, `/api/config`): compact
/// JSON with members in a fixed order, times in unix seconds, durations in milliseconds. Secrets
/// are never part of it: keys are described by kid, algorithms and type ("HMAC 32 bytes"), the
/// admin token only by whether one is configured, and the query of every URL (upstreams,
/// `jwks_url`) is replaced by `?…`, since operators do put credentials there.
extension Gateway {
    /// Changes the dashboard's record of the remote key set at `url`.
    func updateKeySetStatus(url: String, _ change: (inout RemoteKeySetStatus) -> Void) {
        runtime.keySetStatus.withLockedValue { change(&$0[url, default: RemoteKeySetStatus()]) }
    }

    /// `GET /api/stats?seconds=N`: the last N seconds (default and at most 900) of handshakes and
    /// rejections per route and reason, and the connections open per route now.
    func statsJSON(seconds: Int = TrafficSeries.defaultCapacity, end: Int64? = nil) -> String {
        let end = end ?? runtime.trafficSeries.samples.last?.second ?? Int64(runtime.now.rounded(.down))
        var open = runtime.traffic.openConnections
        // Routes that exist now are listed even before their first connection; `-` only when used.
        for route in configuration.routes { open[route.pattern.description, default: 0] += 0 }
        if open["-"] == 0 { open["-"] = nil }
        return runtime.trafficSeries.json(seconds: seconds, end: end, open: open)
    }

    /// `GET /api/keys`: `{"local":[key],"remote":[{"url","keys":[key],"installed_at","last_attempt",
    /// "last_error","next_fetch","failures","fetched"}]}` where a key is `{"kid","type","algorithms"}`
    /// (`kid` left out for keys without one). Unknown times are left out.
    func keysJSON() -> String {
        let snapshot = runtime.snapshot
        let status = runtime.keySetStatus.withLockedValue { $0 }
        let local = snapshot.configuration.keys.keys.map(Gateway.keyJSON)
        let remote = snapshot.configuration.remoteKeySets.map { set -> String in
            let state = status[set.url] ?? RemoteKeySetStatus()
            var out = JSONObjectWriter()
            out.add("url", Gateway.redacted(url: set.url))
            out.add("keys", raw: "[" + (snapshot.remoteKeys[set.url] ?? []).map(Gateway.keyJSON).joined(separator: ",") + "]")
            out.add("refresh_interval_ms", set.refreshInterval.nanoseconds / 1_000_000)
            out.add("installed_at", raw: state.installedAt.map(Gateway.seconds))
            out.add("last_attempt", raw: state.lastAttempt.map(Gateway.seconds))
            out.add("last_error", state.lastError.map { $0.replacingOccurrences(of: set.url, with: Gateway.redacted(url: set.url)) })
            out.add("next_fetch", raw: state.nextFetch.map(Gateway.seconds))
            out.add("failures", Int64(state.failures))
            out.add("fetched", Int64(state.fetched))
            return out.text
        }
        return "{\"local\":[" + local.joined(separator: ",") + "],\"remote\":[" + remote.joined(separator: ",") + "]}"
    }

    /// `GET /api/config`: the routes and limits new connections get, and facts about this
    /// instance; see README "Dashboard" for the members.
    func configJSON() -> String {
        let configuration = self.configuration
        let routes = configuration.routes.map { route -> String in
            var out = JSONObjectWriter()
            out.add("path", route.pattern.description)
            out.add("upstreams", raw: Gateway.strings(route.upstreams.map { Gateway.redacted(url: $0.description) }))
            out.add("auth", route.auth.rawValue)
            out.add("require_claims", raw: "{" + route.requirements.claims.map {
                JSONText.quoted($0.path) + ":[" + $0.allowed.map(\.jsonText).joined(separator: ",") + "]"
            }.joined(separator: ",") + "}")
            out.add("require_scopes", raw: Gateway.strings(route.requirements.scopes))
            out.add("claims_to_headers", raw: "{" + route.claimsToHeaders.map {
                JSONText.quoted($0.claim) + ":" + JSONText.quoted($0.header)
            }.joined(separator: ",") + "}")
            out.add("forward_payload_header", route.forwardPayloadHeader)
            out.add("forward_token", raw: route.forwardToken ? "true" : "false")
            out.add("allowed_origins", raw: route.allowedOrigins.map(Gateway.strings))
            out.add("token_sources", raw: Gateway.strings((route.tokenSources ?? configuration.auth.tokenSources).map(\.description)))
            out.add("expiry_close_code", Int64(route.expiryCloseCode))
            out.add("max_connections", route.maxConnections.map(Int64.init))
            if let refresh = route.tokenRefresh {
                out.add("token_refresh", raw: "{\"notify_before_ms\":\(refresh.notifyBefore.nanoseconds / 1_000_000),\"grace_ms\":\(refresh.grace.nanoseconds / 1_000_000)}")
            }
            return out.text
        }
        let limits = configuration.limits
        var limitsOut = JSONObjectWriter()
        limitsOut.add("handshake_timeout_ms", limits.handshakeTimeout.nanoseconds / 1_000_000)
        limitsOut.add("upstream_timeout_ms", limits.upstreamTimeout.nanoseconds / 1_000_000)
        limitsOut.add("idle_timeout_ms", limits.idleTimeout.nanoseconds / 1_000_000)
        limitsOut.add("drain_timeout_ms", limits.drainTimeout.nanoseconds / 1_000_000)
        limitsOut.add("max_header_bytes", Int64(limits.maxHeaderBytes))
        limitsOut.add("max_frame_bytes", Int64(limits.maxFrameBytes))
        limitsOut.add("max_message_bytes", Int64(limits.maxMessageBytes))
        limitsOut.add("max_connections", Int64(limits.maxConnections))
        limitsOut.add("max_handshakes_per_ip_per_second", limits.maxHandshakesPerIPPerSecond.map(Int64.init))
        limitsOut.add("max_connections_per_subject", limits.maxConnectionsPerSubject.map(Int64.init))
        limitsOut.add("keepalive_interval_ms", limits.keepaliveInterval.map { $0.nanoseconds / 1_000_000 })
        var auth = JSONObjectWriter()
        auth.add("issuers", raw: Gateway.strings(configuration.auth.issuers))
        auth.add("audiences", raw: Gateway.strings(configuration.auth.audiences))
        auth.add("leeway_seconds", configuration.auth.leewaySeconds)
        auth.add("max_token_bytes", Int64(configuration.auth.maxTokenBytes))
        auth.add("token_sources", raw: Gateway.strings(configuration.auth.tokenSources.map(\.description)))
        auth.add("try_all_keys", raw: configuration.auth.tryAllKeys ? "true" : "false")
        // The size in effect: read at start-up, a reload does not change it.
        auth.add("token_cache_size", Int64(runtime.tokenCacheSize))
        var admin = JSONObjectWriter()
        admin.add("authentication", raw: configuration.admin?.requiresAuthentication == true ? "true" : "false")
        admin.add("public_metrics", raw: configuration.admin?.publicMetrics == true ? "true" : "false")
        admin.add("recent_rejections", configuration.admin.map { Int64($0.recentRejections) })
        admin.add("allowed_origins", raw: Gateway.strings(configuration.admin?.allowedOrigins ?? []))
        var out = JSONObjectWriter()
        out.add("instance", instanceName)
        out.add("started_at", raw: Gateway.seconds(runtime.startedAt))
        out.add("routes", raw: "[" + routes.joined(separator: ",") + "]")
        out.add("limits", raw: limitsOut.text)
        out.add("auth", raw: auth.text)
        out.add("admin", raw: admin.text)
        out.add("revocation_default_ttl_seconds", Int64(configuration.revocation.defaultTTLSeconds))
        // The page shows its cluster panel only when this is true, and then reads
        // `GET /cluster/instances`.
        out.add("cluster", raw: isClustered ? "true" : "false")
        return out.text
    }

    private static func keyJSON(_ key: VerificationKey) -> String {
        var out = JSONObjectWriter()
        out.add("kid", key.id)
        out.add("type", key.keyDescription)
        out.add("algorithms", raw: strings(key.algorithms.map(\.rawValue).sorted()))
        return out.text
    }

    private static func strings(_ values: [String]) -> String {
        "[" + values.map(JSONText.quoted).joined(separator: ",") + "]"
    }

    /// Unix seconds with millisecond precision (`1764084601.123`), or whole when exact.
    static func seconds(_ time: Double) -> String {
        let millis = Int64((time * 1000).rounded())
        return millis % 1000 == 0 ? "\(millis / 1000)" : String(format: "%.3f", Double(millis) / 1000)
    }

    /// `url` with its query (and fragment) replaced by `?…`: credentials such as `?api_key=` never
    /// reach the page.
    static func redacted(url: String) -> String {
        guard let mark = url.firstIndex(where: { $0 == "?" || $0 == "#" }) else { return url }
        return String(url[..<mark]) + "?…"
    }
}
