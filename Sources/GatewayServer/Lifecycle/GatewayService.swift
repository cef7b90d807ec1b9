import GatewayHandshake
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Runs a `Gateway` as a service: starts it, handles SIGHUP (reload) and SIGUSR1 (reopen the
/// rejection log) while it runs, drains it on graceful shutdown. `wsgate serve` and `wsgate demo`
/// run it in a `ServiceGroup`; tests run it in-process the same way.
public struct GatewayService: Service {
    /// The configuration to start with.
    public let configuration: GatewayConfiguration
    /// Reads the configuration again for a reload (SIGHUP, `POST /reload`); nil disables reload
    /// (the demo). The server does not read YAML itself: the CLI passes `ConfigurationLoader`.
    public let reloadSource: (@Sendable () throws -> GatewayConfiguration)?
    /// Event loop threads; nil is one per core.
    public var threads: Int?
    /// Where `/metrics` reads from (`MetricsBootstrap.prometheus()` in the CLI).
    public let registry: PrometheusCollectorRegistry
    /// The service's logger.
    public let logger: Logger
    /// Called once the listeners are bound.
    public let announce: (@Sendable (Gateway) -> Void)?
    /// Listening sockets handed over by systemd, served instead of binding their listeners.
    public var inheritedSockets: [InheritedSocket] = []
    /// Called after each SIGHUP reload with its outcome: nil when the new configuration serves,
    /// else the problems (the previous configuration keeps serving).
    public var reloaded: (@Sendable (_ problems: String?) -> Void)?

    /// A service for `configuration`.
    public init(
        configuration: GatewayConfiguration,
        reloadSource: (@Sendable () throws -> GatewayConfiguration)?,
        threads: Int? = nil,
        registry: PrometheusCollectorRegistry,
        logger: Logger,
        announce: (@Sendable (Gateway) -> Void)?
    ) {
        self.configuration = configuration
        self.reloadSource = reloadSource
        self.threads = threads
        self.registry = registry
        self.logger = logger
        self.announce = announce
    }

    /// Runs the gateway until graceful shutdown, then drains it.
    public func run() async throws {
        let box = ReloadTarget()
        let reload: @Sendable () async -> String? = { [reloadSource, logger] in
            guard let reloadSource, let gateway = box.gateway else { return "reload is not available" }
            do {
                let fresh = try reloadSource()
                if let problem = await gateway.reload(fresh) {
                    logger.error("reload refused; the previous configuration keeps serving", metadata: ["problems": "\(problem)"])
                    return problem
                }
                // Remote key sets the new config adds start refreshing; dropped ones stop.
                box.refresher?.update(sets: fresh.remoteKeySets)
                logger.notice("configuration reloaded", metadata: ["routes": "\(fresh.routes.count)", "keys": "\(fresh.keys.keys.count)"])
                return nil
            } catch {
                // A source's problems come one per line; the log line and `POST /reload` keep one.
                let text = String(describing: error).split(separator: "\n").joined(separator: "; ")
                logger.error("reload refused; the previous configuration keeps serving", metadata: ["problems": "\(text)"])
                return text
            }
        }
        // Trap SIGHUP/SIGUSR1 before the listeners bind: a reload signal sent as soon as the
        // gateway answers must not kill it with the default action.
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigusr1)
        let remoteKeys = try await JWKSRefresher.fetchInitial(configuration.remoteKeySets, logger: logger)
        let gateway = try await Gateway.start(
            configuration: configuration,
            threads: threads,
            remoteKeys: remoteKeys,
            logger: logger,
            admin: AdminResponder(metricsText: { [registry] in registry.emitToString() }, reload: reload),
            inheritedSockets: inheritedSockets
        )
        box.gateway = gateway
        logger.notice("wsgate listening", metadata: [
            "listeners": "\(gateway.listeningAddresses.map(Gateway.display).joined(separator: ","))",
            "admin": "\(gateway.adminAddress.map(Gateway.display) ?? "-")",
            "routes": "\(configuration.routes.count)",
            "inherited": "\(inheritedSockets.map(\.description).joined(separator: ","))",
        ])
        announce?(gateway)
        let refresher = JWKSRefresher(gateway: gateway, sets: configuration.remoteKeySets, logger: logger)
        box.refresher = refresher
        try? await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { tasks in
                tasks.addTask { await refresher.run() }
                for await signal in signals {
                    if signal == .sighup {
                        let problems = await reload()
                        reloaded?(problems)
                    } else {
                        gateway.rejectionLog.reopen()
                        logger.notice("rejection log reopened")
                    }
                }
                tasks.cancelAll()
            }
        }
        // /readyz turns 503 now; the listeners stop after drain_delay, and the 1001 closes go out
        // over drain_spread (Gateway.shutdown).
        let limits = gateway.configuration.limits
        logger.notice("draining", metadata: [
            "open": "\(gateway.relayedConnections)",
            "delay_ms": "\(limits.drainDelay.nanoseconds / 1_000_000)",
            "spread_ms": "\(limits.drainSpread.nanoseconds / 1_000_000)",
            "timeout_ms": "\(limits.drainTimeout.nanoseconds / 1_000_000)",
        ])
        try await gateway.shutdown()
        logger.notice("stopped")
    }
}
