import ArgumentParser

/// `wsgate demo` (stub).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "(coming)")
    func run() async throws { throw ExitCode.failure }
}
