import Foundation
import GatewayAuth
import NIOCore
import NIOHTTP1
import NIOPosix

/// What the process adds to the admin listener: the Prometheus text (the process owns the
/// metrics backend) and a reload action.
public struct AdminResponder: Sendable {
    /// Renders `/metrics` in the Prometheus text format.
    public var metricsText: @Sendable () -> String
    /// Handles `POST /reload`; returns nil on success or the problems.
    public var reload: (@Sendable () async -> String?)?

    /// Creates a responder.
    public init(metricsText: @escaping @Sendable () -> String, reload: (@Sendable () async -> String?)? = nil) {
        self.metricsText = metricsText
        self.reload = reload
    }
}

/// The admin listener: `/healthz`, `/readyz`, `/metrics`, `/rejections?limit=N`, `POST /reload`.
/// It never shares the client listener, and binds loopback by default.
enum AdminServer {
    static func bind(endpoint: SocketEndpoint, group: EventLoopGroup, gateway: Gateway, responder: AdminResponder?) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(gateway: gateway, responder: responder))
                }
            }
            .bind(host: endpoint.host, port: endpoint.port).get()
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let gateway: Gateway
    private let responder: AdminResponder?
    private var head: HTTPRequestHead?

    init(gateway: Gateway, responder: AdminResponder?) {
        self.gateway = gateway
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (path, query) = HandshakePlanner.split(uri: head.uri)
        switch (head.method, path) {
        case (.GET, "/healthz"):
            send(.ok, "{\"status\":\"ok\"}", context: context)
        case (.GET, "/readyz"):
            if gateway.isDraining {
                send(.serviceUnavailable, "{\"status\":\"draining\"}", context: context)
            } else {
                send(.ok, "{\"status\":\"ready\"}", context: context)
            }
        case (.GET, "/metrics"):
            let text = responder?.metricsText() ?? ""
            send(.ok, text, contentType: "text/plain; version=0.0.4", context: context)
        case (.GET, "/rejections"):
            var limit = 100
            if let query, let value = TokenCarriers.queryValues(named: "limit", in: query).first ?? nil, let n = Int(value) {
                limit = min(max(n, 0), 10_000)
            }
            let lines = gateway.rejectionLog.recent(limit: limit).map { $0.jsonLine() }
            send(.ok, "[" + lines.joined(separator: ",") + "]", context: context)
        case (.POST, "/reload"):
            guard let reload = responder?.reload else {
                send(.notFound, "{\"error\":\"reload is not available\"}", context: context)
                return
            }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let promise = context.eventLoop.makePromise(of: String?.self)
            promise.completeWithTask { await reload() }
            promise.futureResult.whenSuccess { problems in
                let (handler, context) = bound.value
                if let problems {
                    handler.send(.unprocessableEntity, "{\"status\":\"refused\",\"problems\":\(RejectionRecord.quote(problems))}", context: context)
                } else {
                    handler.send(.ok, "{\"status\":\"reloaded\"}", context: context)
                }
            }
        default:
            send(.notFound, "{\"error\":\"not found\"}", context: context)
        }
    }

    private func send(_ status: HTTPResponseStatus, _ body: String, contentType: String = "application/json", context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

