import ArgumentParser
import Foundation
import GatewayConfig
import GatewayHandshake
import GatewayServer
import Logging
import ServiceLifecycle

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
        let path = config
        var service = GatewayService(
            configuration: configuration, reloadSource: { try ConfigurationLoader.load(path: path) },
            threads: threads, registry: registry, logger: logger, announce: nil
        )
        service.inheritedSockets = inherited
        let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
