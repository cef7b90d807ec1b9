import ArgumentParser

/// The `wsgate` command: a JWT-authenticating WebSocket gateway.
@main
struct WSGate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wsgate",
        abstract: "A JWT-authenticating WebSocket gateway.",
        subcommands: [
            ServeCommand.self,
            DemoCommand.self,
            CheckCommand.self,
            VerifyCommand.self,
            TokenCommand.self,
            EchoBackendCommand.self,
            RejectionsCommand.self,
            SessionsCommand.self,
            RevokeCommand.self,
            RevocationsCommand.self,
            ClusterCommand.self,
        ]
    )
}
