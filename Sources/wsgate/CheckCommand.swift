import ArgumentParser
import Foundation
import GatewayConfig
import GatewayServer

/// `wsgate check --config FILE`: validates a config and loads every key, as `serve` would at start-up.
///
/// Prints `ok: …` (then any `warning: …` lines) and exits 0, or prints every problem, one per line with its key path and line,
/// and exits 1.
struct CheckCommand: AsyncParsableCommand {
    /// Command name and help.
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file and load every key.",
        discussion: """
            Prints "ok: N routes, M keys, listeners …" and exits 0, or prints every problem, one per \
            line with its key path and line (routes[1].upstream (line 14): …), and exits 1.
            """
    )

    /// The YAML config file.
    @Option(name: .long, help: ArgumentHelp("The YAML config file.", valueName: "file"))
    var config: String

    /// Also connect to what the config names (the cluster's PostgreSQL).
    @Flag(name: .long, help: "Also connect to the cluster's PostgreSQL (cluster.postgres) and read its schema version.")
    var connect = false

    /// Loads the config and reports.
    func run() async throws {
        do {
            let loaded = try ConfigurationLoader.load(path: config)
            print("ok: \(loaded.summary)")
            for warning in loaded.warnings { print("warning: \(warning)") }
            if connect, let cluster = loaded.cluster {
                do throws(ClusterUnavailable) {
                    print("ok: " + (try await ClusterProbe.check(cluster)))
                } catch {
                    Self.printToStandardError("\(config): \(error.description)")
                    throw ExitCode.failure
                }
            }
        } catch let error as ConfigurationProblems {
            for problem in error.problems { print(problem) }
            Self.printToStandardError("\(config): \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s")")
            throw ExitCode.failure
        }
    }

    /// Writes one line to standard error (kept in this file so the command builds on its own).
    private static func printToStandardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
