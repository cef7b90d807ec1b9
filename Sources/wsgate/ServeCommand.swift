import ArgumentParser
import Foundation
import GatewayConfig
import GatewayServer
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `wsgate serve --config FILE`: runs the gateway until SIGTERM/SIGINT (drain), reloading on
/// SIGHUP and reopening the rejection log on SIGUSR1.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway.",
        discussion: "SIGHUP reloads config and keys without dropping connections; SIGUSR1 reopens the rejection log; SIGTERM drains."
    )

    @Option(name: .long, help: "The YAML config file.")
    var config: String

    @Option(name: .long, help: "Event loop threads (default: one per core). Both halves of a connection share one.")
    var threads: Int?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        let configuration: GatewayConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: config)
        } catch {
            for problem in error.problems { printError("config: \(problem)") }
            throw ExitCode.failure
        }
        // Sockets from systemd (wsgate.socket, systemd-socket-activate): read before anything
        // else, and checked against listen[] before the gateway starts.
        let inherited: [InheritedSocket]
        do {
            inherited = try SocketActivation.takeFromEnvironment()
            _ = try SocketActivation.assign(inherited, to: configuration.listeners)
        } catch {
            printError("socket activation: \(error)")
            throw ExitCode.failure
        }
        let registry = MetricsBootstrap.prometheus()
        var service = GatewayService(configuration: configuration, configPath: config, threads: threads, registry: registry, logger: logger, announce: nil)
        service.inheritedSockets = inherited
        let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Runs a `Gateway` as a service: starts it, handles SIGHUP/SIGUSR1 while it runs, drains it on
/// graceful shutdown.
struct GatewayService: Service {
    let configuration: GatewayConfiguration
    /// Where reloads read the config from; nil disables reload (the demo).
    let configPath: String?
    /// Event loop threads; nil is one per core.
    var threads: Int? = nil
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    /// Called once the listeners are bound.
    let announce: (@Sendable (Gateway) -> Void)?
    /// Listening sockets handed over by systemd, served instead of binding their listeners.
    var inheritedSockets: [InheritedSocket] = []

    func run() async throws {
        let box = ReloadTarget()
        let reload: @Sendable () async -> String? = { [configPath, logger] in
            guard let configPath, let gateway = box.gateway else { return "reload is not available" }
            do throws(ConfigurationProblems) {
                let fresh = try ConfigurationLoader.load(path: configPath)
                if let problem = await gateway.reload(fresh) {
                    logger.error("reload refused; the previous configuration keeps serving", metadata: ["problems": "\(problem)"])
                    return problem
                }
                // Remote key sets the new config adds start refreshing; dropped ones stop.
                box.refresher?.update(sets: fresh.remoteKeySets)
                logger.notice("configuration reloaded", metadata: ["routes": "\(fresh.routes.count)", "keys": "\(fresh.keys.keys.count)"])
                return nil
            } catch {
                let text = error.problems.map(\.description).joined(separator: "; ")
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
                        _ = await reload()
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

/// Holds the running gateway and key refresher for the reload closure.
final class ReloadTarget: @unchecked Sendable {
    // Safe: every access to the two stored references goes through `lock`.
    private let lock = NSLock()
    private var storedGateway: Gateway?
    private var storedRefresher: JWKSRefresher?
    var gateway: Gateway? {
        get { lock.withLock { storedGateway } }
        set { lock.withLock { storedGateway = newValue } }
    }
    var refresher: JWKSRefresher? {
        get { lock.withLock { storedRefresher } }
        set { lock.withLock { storedRefresher = newValue } }
    }
}


/// The Prometheus backend for swift-metrics.
enum MetricsBootstrap {
    /// Bootstraps swift-metrics with a Prometheus registry (once per process) and returns it.
    static func prometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // The gateway records seconds (handshake and upstream-connect durations).
        let seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        factory.valueHistogramBuckets["wsgate_handshake_duration_seconds"] = seconds
        factory.valueHistogramBuckets["wsgate_upstream_connect_duration_seconds"] = seconds
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
