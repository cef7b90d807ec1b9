import ArgumentParser

/// `wsgate-bench`: measurements of wsgate's hot paths, each printed as a table or JSON.
/// Subcommands are added to the list below, one file each.
@main
struct WSGateBench: AsyncParsableCommand {
    /// The command tree.
    static let configuration = CommandConfiguration(
        commandName: "wsgate-bench",
        abstract: "Measures wsgate: token verification, handshakes, relay.",
        subcommands: [VerifyBenchmark.self, HandshakeScenario.self, EchoScenario.self, StreamScenario.self, IdleScenario.self, StormScenario.self]
    )
}
