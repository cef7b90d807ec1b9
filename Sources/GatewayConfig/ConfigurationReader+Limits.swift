import GatewayHandshake

extension ConfigurationReader {
    /// Keys `limits:` may have.
    static let limitKeys = [
        "handshake_timeout", "upstream_timeout", "idle_timeout", "drain_timeout", "drain_delay", "drain_spread",
        "max_header_bytes", "max_frame_bytes", "max_message_bytes", "max_connections",
        "max_handshakes_per_ip_per_second", "max_connections_per_subject", "keepalive_interval",
    ]

    /// Reads `limits:`.
    func limits(_ located: ConfigNode?) -> Limits {
        var limits = Limits()
        guard let located, let entry = mapping(located, allowed: Self.limitKeys) else { return limits }
        if let node = entry["handshake_timeout"], let value = duration(node) { limits.handshakeTimeout = .nanoseconds(value.nanoseconds) }
        if let node = entry["upstream_timeout"], let value = duration(node) { limits.upstreamTimeout = .nanoseconds(value.nanoseconds) }
        if let node = entry["idle_timeout"], let value = duration(node) { limits.idleTimeout = .nanoseconds(value.nanoseconds) }
        if let node = entry["drain_timeout"], let value = duration(node, minimum: ConfigDuration(nanoseconds: 0)) {
            limits.drainTimeout = .nanoseconds(value.nanoseconds)
        }
        let zero = ConfigDuration(nanoseconds: 0)
        if let node = entry["drain_delay"], let value = duration(node, minimum: zero) {
            limits.drainDelay = .nanoseconds(value.nanoseconds)
        }
        if let node = entry["drain_spread"], let value = duration(node, minimum: zero) {
            limits.drainSpread = .nanoseconds(value.nanoseconds)
        }
        // The delay and the spread both run inside the drain's budget, and the last client sent
        // 1001 still needs time to answer with its own close (RFC 6455 §5.5.1) before the
        // timeout closes it anyway.
        let drainUsed = limits.drainDelay + limits.drainSpread
        if drainUsed.nanoseconds > 0, drainUsed >= limits.drainTimeout {
            // Named at the spread when one is set (it is the usual culprit), else at the delay.
            let node = (limits.drainSpread.nanoseconds > 0 ? entry["drain_spread"] : nil) ?? entry["drain_delay"] ?? located
            func spelled(_ nanoseconds: Int64) -> String { nanoseconds == 0 ? "0s" : ConfigDuration(nanoseconds: nanoseconds).description }
            report(node, "drain_delay (\(spelled(limits.drainDelay.nanoseconds))) + drain_spread (\(spelled(limits.drainSpread.nanoseconds))) must be shorter than drain_timeout (\(spelled(limits.drainTimeout.nanoseconds))), which bounds the whole drain")
        }
        if let node = entry["keepalive_interval"], let value = duration(node, minimum: ConfigDuration(nanoseconds: 0)) {
            limits.keepaliveInterval = value.nanoseconds == 0 ? nil : .nanoseconds(value.nanoseconds)
        }
        if let node = entry["max_header_bytes"], let value = size(node, minimum: 1024) { limits.maxHeaderBytes = value }
        // A control frame carries up to 125 bytes and must always get through (RFC 6455 §5.5).
        if let node = entry["max_frame_bytes"], let value = size(node, minimum: 125) { limits.maxFrameBytes = value }
        if let node = entry["max_message_bytes"], let value = size(node, minimum: 125) { limits.maxMessageBytes = value }
        if let node = entry["max_connections"], let value = integer(node, in: 1...Int.max) { limits.maxConnections = value }
        if let node = entry["max_handshakes_per_ip_per_second"], let value = integer(node, in: 1...Int.max) {
            limits.maxHandshakesPerIPPerSecond = value
        }
        if let node = entry["max_connections_per_subject"], let value = integer(node, in: 1...Int.max) {
            limits.maxConnectionsPerSubject = value
        }
        if limits.maxFrameBytes > limits.maxMessageBytes {
            let node = entry["max_frame_bytes"] ?? entry["max_message_bytes"] ?? located
            report(node, "max_frame_bytes (\(ByteSize(bytes: limits.maxFrameBytes))) is larger than max_message_bytes (\(ByteSize(bytes: limits.maxMessageBytes)))")
        }
        return limits
    }

    /// Reads `rejection_log:`: a mapping `{path, enabled}`, or just the path.
    func rejectionLog(_ located: ConfigNode?) -> RejectionLogConfiguration {
        guard let located else { return RejectionLogConfiguration() }
        var path: String?
        var enabled = true
        if case .scalar = located.node {
            path = nonEmptyString(located)
        } else if let entry = mapping(located, allowed: ["path", "enabled"]) {
            path = entry["path"].flatMap(nonEmptyString)
            enabled = entry["enabled"].flatMap(bool) ?? true
        }
        guard enabled else { return RejectionLogConfiguration(destination: .disabled) }
        guard let path, path != "-" else { return RejectionLogConfiguration(destination: .standardError) }
        return RejectionLogConfiguration(destination: .file(resolve(path)))
    }

    /// Reads `trusted_proxies:`, a list of CIDR blocks.
    func trustedProxies(_ located: ConfigNode?) -> [CIDRBlock] {
        guard let located, let items = strings(located) else { return [] }
        var blocks: [CIDRBlock] = []
        for (spelling, node) in items {
            if let block = CIDRBlock(spelling) {
                blocks.append(block)
            } else {
                report(node, "\"\(spelling)\" is not a CIDR block (10.0.0.0/8, 2001:db8::/32) or address")
            }
        }
        return blocks
    }

    /// Reads `revocation:` (`default_ttl`).
    func revocationSettings(_ located: ConfigNode?) -> RevocationSettings {
        var settings = RevocationSettings()
        guard let located, let entry = mapping(located, allowed: ["default_ttl"]) else { return settings }
        if let node = entry["default_ttl"], let ttl = duration(node, minimum: ConfigDuration(nanoseconds: 1_000_000_000)) {
            settings.defaultTTLSeconds = Double(ttl.nanoseconds) / 1e9
        }
        return settings
    }
}
