import Foundation
import GatewayAuth
import GatewayHandshake
import GatewayText
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

/// The admin listener: `/healthz`, `/readyz`, `/metrics`, `/rejections?limit=N`, `POST /reload`,
/// and the live-session API of SESSIONS.md (`/sessions`, `/sessions/revoke`, `/revocations`).
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

/// One admin connection: reads a request (body bounded), checks credentials, answers.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The largest request body accepted (a revoke body is a few hundred bytes).
    static let maxBodyBytes = 64 * 1024

    private let gateway: Gateway
    private let responder: AdminResponder?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var bodyTooLarge = false
    /// Whether the connection stays open after the answer (HTTP/1.1 without `Connection: close`).
    private var keepAlive = true

    init(gateway: Gateway, responder: AdminResponder?) {
        self.gateway = gateway
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            keepAlive = head.isKeepAlive
            body.removeAll(keepingCapacity: false)
            bodyTooLarge = false
        case .body(let chunk):
            guard !bodyTooLarge else { return }
            if body.count + chunk.readableBytes > AdminHandler.maxBodyBytes {
                bodyTooLarge = true
                body = []
            } else {
                body.append(contentsOf: chunk.readableBytesView)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            if bodyTooLarge {
                send(.payloadTooLarge, "{\"error\":\"the body is over \(AdminHandler.maxBodyBytes) bytes\"}", context: context)
                return
            }
            respond(to: head, body: body, context: context)
            body = []
        }
    }

    private func respond(to head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let (path, query) = HandshakePlanner.split(uri: head.uri)
        if head.method != .GET, head.method != .HEAD,
           !AdminHandler.isSameOrigin(head.headers, allowed: gateway.configuration.admin?.allowedOrigins ?? []) {
            // A web page elsewhere could otherwise make the operator's browser POST a revoke to a
            // loopback admin listener without authentication (a "simple" cross-origin request
            // needs no preflight); browsers always send Origin on such requests (RFC 6454 §7).
            send(.forbidden, "{\"error\":\"cross-origin request refused\"}", context: context)
            return
        }
        if let admin = gateway.configuration.admin {
            let authenticator = AdminAuthenticator(configuration: admin)
            let verdict = authenticator.verdict(
                path: path, authorization: head.headers["authorization"], verifier: gateway.runtime.snapshot.verifier,
                now: gateway.runtime.now
            )
            switch verdict {
            case .allowed:
                break
            case .missing:
                send(.unauthorized, "{\"error\":\"admin credentials required\"}", context: context,
                     extraHeaders: [("WWW-Authenticate", "Bearer realm=\"wsgate-admin\"")])
                return
            case .invalid:
                send(.unauthorized, "{\"error\":\"admin credentials are not valid\"}", context: context,
                     extraHeaders: [("WWW-Authenticate", "Bearer realm=\"wsgate-admin\", error=\"invalid_token\"")])
                return
            case .insufficientScope:
                send(.forbidden, "{\"error\":\"the token lacks a required admin scope\"}", context: context,
                     extraHeaders: [("WWW-Authenticate", "Bearer realm=\"wsgate-admin\", error=\"insufficient_scope\"")])
                return
            }
        }
        if let asset = DashboardPage.asset(path: path, authentication: gateway.configuration.admin?.requiresAuthentication == true) {
            guard head.method == .GET else {
                send(.methodNotAllowed, "{\"error\":\"method not allowed\"}", context: context)
                return
            }
            send(.ok, asset.body, contentType: asset.contentType, context: context)
            return
        }
        switch (head.method, path) {
        case (.GET, "/api/stats"):
            var seconds = TrafficSeries.defaultCapacity
            if let query, let value = TokenCarriers.queryValues(named: "seconds", in: query).first ?? nil {
                guard let n = Int(value), (1...TrafficSeries.defaultCapacity).contains(n) else {
                    send(.badRequest, AdminRequestError(field: "seconds", "must be 1 to \(TrafficSeries.defaultCapacity)").jsonBody, context: context)
                    return
                }
                seconds = n
            }
            send(.ok, gateway.statsJSON(seconds: seconds), context: context)
        case (.GET, "/api/keys"):
            send(.ok, gateway.keysJSON(), context: context)
        case (.GET, "/api/config"):
            send(.ok, gateway.configJSON(), context: context)
        case (.GET, "/cluster/instances"):
            guard gateway.isClustered else {
                send(.notFound, "{\"error\":\"this gateway has no cluster configured\"}", context: context)
                return
            }
            let gateway = self.gateway
            answerLater(context: context) {
                do throws(ClusterUnavailable) {
                    return (.ok, try await gateway.clusterInstancesJSON())
                } catch {
                    return AdminHandler.unavailable(error)
                }
            }
        case (.GET, "/healthz"):
            send(.ok, "{\"status\":\"ok\"}", context: context)
        case (.GET, "/readyz"):
            if !gateway.isReady {
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
        case (.GET, "/sessions"):
            do {
                let parsed = try SessionQuery(query: query)
                if parsed.cluster {
                    guard gateway.isClustered else {
                        send(.badRequest, AdminRequestError(field: "cluster", "this gateway has no cluster configured").jsonBody, context: context)
                        return
                    }
                    let gateway = self.gateway
                    let authorization = head.headers.first(name: "authorization")
                    answerLater(context: context) {
                        do throws(ClusterUnavailable) {
                            return (.ok, try await gateway.clusterSessions(parsed, authorization: authorization))
                        } catch {
                            return AdminHandler.unavailable(error)
                        }
                    }
                    return
                }
                let listing = gateway.sessions(parsed)
                let instance = gateway.instanceName
                let items = listing.sessions.map { $0.jsonObject(instance: instance) }
                send(.ok, "{\"count\":\(listing.count),\"sessions\":[" + items.joined(separator: ",") + "]}", context: context)
            } catch {
                send(.badRequest, error.jsonBody, context: context)
            }
        case (.POST, "/sessions/revoke"):
            let request: RevokeRequest
            do {
                request = try RevokeRequest(body: body, now: gateway.runtime.now)
            } catch {
                send(.badRequest, error.jsonBody, context: context)
                return
            }
            // Saving to state_dir touches the disk: off the event loop.
            let gateway = self.gateway
            answerLater(context: context) {
                let outcome: RevokeOutcome
                do throws(ClusterUnavailable) {
                    outcome = try await gateway.revoke(request)
                } catch {
                    return AdminHandler.unavailable(error)
                }
                var text = "{\"revocation\":\(outcome.revocation.jsonObject),\"closed\":\(outcome.closed)"
                if let problem = outcome.saveProblem { text += ",\"warning\":\(JSONText.quoted("not saved: " + problem))" }
                return (.ok, text + "}")
            }
        case (.GET, "/revocations"):
            let gateway = self.gateway
            answerLater(context: context) {
                let items = gateway.revocations.map(\.jsonObject)
                return (.ok, "{\"count\":\(items.count),\"revocations\":[" + items.joined(separator: ",") + "]}")
            }
        case (.DELETE, _) where path.hasPrefix("/revocations/"):
            let id = String(path.dropFirst("/revocations/".count))
            guard RevocationID.isValid(id) else {
                send(.badRequest, AdminRequestError(field: "id", "must be 32 lowercase hex digits").jsonBody, context: context)
                return
            }
            let gateway = self.gateway
            answerLater(context: context) {
                let lifted: (revocation: Revocation, saveProblem: String?)?
                do throws(ClusterUnavailable) {
                    lifted = try await gateway.liftRevocation(id: id)
                } catch {
                    return AdminHandler.unavailable(error)
                }
                guard let (revocation, problem) = lifted else {
                    return (.notFound, "{\"error\":\"no such revocation\",\"field\":\"id\"}")
                }
                var text = "{\"lifted\":\(revocation.jsonObject)"
                if let problem { text += ",\"warning\":\(JSONText.quoted("not saved: " + problem))" }
                return (.ok, text + "}")
            }
        case (.POST, "/reload"):
            guard let reload = responder?.reload else {
                send(.notFound, "{\"error\":\"reload is not available\"}", context: context)
                return
            }
            answerLater(context: context) {
                if let problems = await reload() {
                    return (.unprocessableEntity, "{\"status\":\"refused\",\"problems\":\(JSONText.quoted(problems))}")
                }
                return (.ok, "{\"status\":\"reloaded\"}")
            }
        case (_, "/healthz"), (_, "/readyz"), (_, "/metrics"), (_, "/rejections"), (_, "/sessions"), (_, "/revocations"),
             (_, "/sessions/revoke"), (_, "/reload"), (_, "/api/stats"), (_, "/api/keys"), (_, "/api/config"):
            send(.methodNotAllowed, "{\"error\":\"method not allowed\"}", context: context)
        default:
            send(.notFound, "{\"error\":\"not found\"}", context: context)
        }
    }

    /// Whether a state-changing request comes from no page, or from a page of this listener: no
    /// `Origin` (curl, `wsgate revoke`), or one whose host and port equal `Host` (the dashboard).
    /// `allowed`: origins configured as `admin.allowed_origins` (lower-cased), accepted as they are.
    static func isSameOrigin(_ headers: HTTPHeaders, allowed: [String] = []) -> Bool {
        let origins = headers["origin"]
        guard !origins.isEmpty else { return true }
        guard origins.count == 1 else { return false }
        let origin = origins[0].lowercased()
        if allowed.contains(origin) { return true }
        guard let host = headers["host"].first, headers["host"].count == 1 else { return false }
        return origin == "http://" + host.lowercased() || origin == "https://" + host.lowercased()
    }

    /// 503 `{"error":"cluster unavailable: …"}`: PostgreSQL cannot take the change now, so nothing
    /// was changed (an instance must not hold a revocation the others never hear of).
    static func unavailable(_ error: ClusterUnavailable) -> (HTTPResponseStatus, String) {
        (.serviceUnavailable, "{\"error\":\(JSONText.quoted(error.description))}")
    }

    /// Runs `work` off the event loop (it may touch the disk or wait), then answers on the loop.
    private func answerLater(context: ChannelHandlerContext, _ work: @escaping @Sendable () async -> (HTTPResponseStatus, String)) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: (HTTPResponseStatus, String).self)
        promise.completeWithTask { await work() }
        promise.futureResult.whenSuccess { status, text in
            let (handler, context) = bound.value
            handler.send(status, text, context: context)
        }
    }

    private func send(
        _ status: HTTPResponseStatus, _ body: String, contentType: String = "application/json", context: ChannelHandlerContext,
        extraHeaders: [(String, String)] = []
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in DashboardPage.securityHeaders { headers.add(name: name, value: value) }
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
