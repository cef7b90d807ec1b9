import ArgumentParser
import GatewayServer

/// `wsgate cluster schema`: the SQL that creates the cluster's tables, for operators who manage
/// schemas themselves (the gateway creates them when missing otherwise).
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Cluster tools (PostgreSQL).",
        subcommands: [SchemaCommand.self]
    )

    /// `wsgate cluster schema`.
    struct SchemaCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "schema",
            abstract: "Print the SQL that creates the cluster's tables (version \(ClusterSchema.version))."
        )

        func run() async throws {
            print(ClusterSchema.script, terminator: "")
        }
    }
}
