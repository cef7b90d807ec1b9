import ArgumentParser

/// `wsgate serve` (stub).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "(coming)")
    func run() async throws { throw ExitCode.failure }
}
