import Foundation
import GatewayAuth
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A JWKS endpoint on loopback for tests: serves whatever document it is told to, can fail on
/// demand (an HTTP error status, or a connection closed without an answer), and counts requests.
/// Plain HTTP, or HTTPS with a given server context (e.g. `TestCertificates`).
public final class JWKSServer: Sendable {
    /// What the server answers to the next requests.
    public enum Reply: Sendable {
        /// 200 with this body and, when given, this `Cache-Control`.
        case document(String, cacheControl: String? = nil)
        /// This status with a short body (and a `Location` for a redirect).
        case status(Int)
        /// The connection is closed without a response.
        case close
    }

    fileprivate struct State {
        var reply: Reply
        var requests = 0
    }

    private let state: NIOLockedValueBox<State>
    private let channel: NIOLockedValueBox<Channel?>

    /// The kernel-chosen port.
    public let port: Int
    /// Whether the server speaks TLS.
    public let secure: Bool
    /// `http://127.0.0.1:PORT/jwks.json`, or `https://localhost:PORT/jwks.json` with TLS (the
    /// name test certificates are issued for).
    public var url: String { secure ? "https://localhost:\(port)/jwks.json" : "http://127.0.0.1:\(port)/jwks.json" }
    /// Requests answered (or refused) so far.
    public var requestCount: Int { state.withLockedValue { $0.requests } }

    private init(state: NIOLockedValueBox<State>, channel: Channel, secure: Bool) {
        self.state = state
        self.channel = NIOLockedValueBox(channel)
        self.port = channel.localAddress?.port ?? 0
        self.secure = secure
    }

    /// Starts a server on `127.0.0.1:0` answering `reply`, over TLS when `tls` is given.
    public static func start(
        reply: Reply, tls: NIOSSLContext? = nil, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> JWKSServer {
        let state = NIOLockedValueBox(State(reply: reply))
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(JWKSRequestHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return JWKSServer(state: state, channel: channel, secure: tls != nil)
    }

    /// Changes what later requests get.
    public func serve(_ reply: Reply) {
        state.withLockedValue { $0.reply = reply }
    }

    /// Stops listening.
    public func shutdown() async throws {
        if let channel = channel.withLockedValue({ value -> Channel? in defer { value = nil }; return value }) {
            try await channel.close()
        }
    }

    /// Runs `body` with a server answering `reply` (over TLS when `tls` is given); shuts it down
    /// afterwards.
    public static func with<T: Sendable>(
        reply: Reply, tls: NIOSSLContext? = nil, _ body: (JWKSServer) async throws -> T
    ) async throws -> T {
        let server = try await start(reply: reply, tls: tls)
        do {
            let result = try await body(server)
            try await server.shutdown()
            return result
        } catch {
            try? await server.shutdown()
            throw error
        }
    }

    // MARK: Documents

    /// A JWKS document (RFC 7517 §5) of the given JWK objects.
    public static func document(_ keys: [String]) -> String {
        "{\"keys\":[\(keys.joined(separator: ","))]}"
    }

    /// The public JWK of an ES256 (P-256) or EdDSA (Ed25519) signer, with `kid` and `alg`; nil
    /// for other algorithms. The coordinates are the tail of the SubjectPublicKeyInfo, whose
    /// fixed-size prefix these two key types share in every encoder.
    public static func jwk(for signer: TokenSigner, kid: String) -> String? {
        guard let pem = signer.publicKeyPEM, let text = String(bytes: pem, encoding: .utf8) else { return nil }
        let base64 = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let der = Data(base64Encoded: base64).map(Array.init) else { return nil }
        switch signer.algorithm {
        case .es256:
            // …BIT STRING { 0x04 ‖ X(32) ‖ Y(32) } (SEC 1 §2.3.3, uncompressed point).
            guard der.count >= 65, der[der.count - 65] == 0x04 else { return nil }
            let x = Base64URL.encode(der[(der.count - 64)..<(der.count - 32)])
            let y = Base64URL.encode(der[(der.count - 32)...])
            return "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"\(kid)\",\"alg\":\"ES256\",\"use\":\"sig\",\"x\":\"\(x)\",\"y\":\"\(y)\"}"
        case .edDSA:
            guard der.count >= 32 else { return nil }
            let x = Base64URL.encode(der[(der.count - 32)...])
            return "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"\(kid)\",\"alg\":\"EdDSA\",\"x\":\"\(x)\"}"
        default:
            return nil
        }
    }
}

/// Answers each request from the shared state, then closes the connection (no keep-alive, so
/// every fetch is a fresh request the server counts).
private final class JWKSRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: NIOLockedValueBox<JWKSServer.State>

    init(state: NIOLockedValueBox<JWKSServer.State>) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let reply = state.withLockedValue { state -> JWKSServer.Reply in
            state.requests += 1
            return state.reply
        }
        let status: HTTPResponseStatus
        var headers: HTTPHeaders = ["Connection": "close", "Content-Type": "application/json"]
        let body: String
        switch reply {
        case .close:
            context.close(promise: nil)
            return
        case .status(let code):
            status = HTTPResponseStatus(statusCode: code)
            body = "{\"error\":\"test failure\"}"
            if (300..<400).contains(code) { headers.add(name: "Location", value: "/elsewhere/jwks.json") }
        case .document(let document, let cacheControl):
            status = .ok
            body = document
            if let cacheControl { headers.add(name: "Cache-Control", value: cacheControl) }
        }
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
