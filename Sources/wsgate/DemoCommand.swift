import ArgumentParser
import Foundation
import GatewayAuth
import GatewayDemo
import GatewayHandshake
import GatewayServer
import Logging
import ServiceLifecycle

/// `wsgate demo`: the embedded default. One process runs the echo backend and the gateway on
/// 127.0.0.1 with a fresh HS256 secret, and prints a token and a command to connect.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the gateway with a built-in echo backend and print a sample token."
    )

    @Option(help: "Gateway port.") var port: Int = 8080
    @Option(help: "Echo backend port.") var backendPort: Int = 9001
    @Option(help: "Admin port.") var adminPort: Int = 9090
    @Option(help: "Token lifetime in seconds.") var ttl: Int = 3600
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        let registry = MetricsBootstrap.prometheus()
        let backend = try await EchoBackend.start(host: "127.0.0.1", port: backendPort)
        let backendPort = backend.localAddress?.port ?? self.backendPort
        let secret = secureRandomBytes(32)
        let key = try VerificationKey.hmac(secret: secret, id: "demo", algorithms: [.hs256])
        let upstream = UpstreamTarget(endpoint: SocketEndpoint(host: "127.0.0.1", port: backendPort), path: "/")
        let configuration = GatewayConfiguration(
            listeners: [ListenerConfiguration(endpoint: SocketEndpoint(host: "127.0.0.1", port: port))],
            admin: AdminConfiguration(endpoint: SocketEndpoint(host: "127.0.0.1", port: adminPort)),
            keys: KeySet([key]),
            auth: AuthSettings(leewaySeconds: 30, tokenSources: [.header, .query(name: "access_token"), .cookie(name: "wsgate_token"), .subprotocol]),
            routes: [
                RouteConfiguration(
                    pattern: .exact("/wss/demo"), upstreams: [upstream], auth: .required,
                    claimsToHeaders: [ClaimHeader(claim: "sub", header: "X-User-Id"), ClaimHeader(claim: "role", header: "X-User-Role")],
                    tokenRefresh: TokenRefreshSettings(notifyBefore: .seconds(60), grace: .seconds(25))
                ),
                RouteConfiguration(pattern: .exact("/wss/public"), upstreams: [upstream], auth: AuthMode.none),
            ],
            rejectionLog: RejectionLogConfiguration(destination: .standardError)
        )
        let now = Date().timeIntervalSince1970.rounded(.down)
        let token = try TokenSigner.hmac(.hs256, secret: secret, kid: "demo").sign(claims: [
            "sub": .string("alice"), "role": .string("member"),
            "iat": .integer(Int64(now)), "exp": .integer(Int64(now) + Int64(ttl)),
        ])
        let ttl = self.ttl
        let service = GatewayService(configuration: configuration, reloadSource: nil, registry: registry, logger: logger) { gateway in
            let address = gateway.listeningAddresses.first
            let gatewayPort = address?.port ?? 8080
            let admin = gateway.adminAddress?.port ?? 9090
            let text = """

            wsgate demo is running (Ctrl-C stops it).
              echo backend   ws://127.0.0.1:\(backendPort)/
              gateway        ws://127.0.0.1:\(gatewayPort)/wss/demo     (token required; sub and role become X-User-Id, X-User-Role;
                                                                   token refresh on: send {"type":"wsgate.refresh","token":"<new token>"})
                             ws://127.0.0.1:\(gatewayPort)/wss/public   (no token)
              admin          http://127.0.0.1:\(admin)/metrics  /rejections  /sessions  /revocations  /healthz

            A token for sub=alice, role=member, valid \(ttl / 60) minutes (HS256, kid demo):

            \(token)

            Connect (the backend's first message shows the headers the gateway injected; send 'nihao' to be closed):
              python3 -m websockets 'ws://127.0.0.1:\(gatewayPort)/wss/demo?access_token=\(token)'
              websocat -H 'Authorization: Bearer \(token)' ws://127.0.0.1:\(gatewayPort)/wss/demo
            Watch a revocation: list the live sessions, then revoke alice (her sockets close with 4003,
            and her token is refused with 401 token_revoked from then on):
              \(CommandLine.arguments[0]) sessions --admin http://127.0.0.1:\(admin)
              \(CommandLine.arguments[0]) revoke --admin http://127.0.0.1:\(admin) --sub alice --reason 'logged out by the demo'
            Without a token the gateway answers 401 before any upgrade:
              curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://127.0.0.1:\(gatewayPort)/wss/demo

            """
            // Unbuffered, so the token shows at once even when stdout is a pipe.
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
        let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try await backend.shutdown()
    }
}
