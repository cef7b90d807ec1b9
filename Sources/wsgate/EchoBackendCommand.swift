import ArgumentParser

/// `wsgate echo-backend` (stub).
struct EchoBackendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo-backend", abstract: "(coming)")
    func run() async throws { throw ExitCode.failure }
}
