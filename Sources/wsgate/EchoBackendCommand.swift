import ArgumentParser
import GatewayDemo
import GatewayHandshake

/// `wsgate echo-backend --listen ADDR`: the demo backend.
struct EchoBackendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-backend",
        abstract: "Run the demo WebSocket backend.",
        discussion: "Its first message is the request it received (so injected claim headers show); then 'Recv: <text>' for text and the same bytes for binary. 'nihao' closes with 1000."
    )

    @Option(name: .long, help: "host:port to listen on.")
    var listen: String = "127.0.0.1:9001"

    func run() async throws {
        guard let endpoint = SocketEndpoint(parsing: listen) else {
            printError("echo-backend: --listen must be host:port")
            throw ExitCode.failure
        }
        let backend = try await EchoBackend.start(host: endpoint.host, port: endpoint.port)
        print("echo-backend listening on \(backend.localAddress.map { "\($0)" } ?? listen)")
        try await backend.wait()
    }
}
