import Foundation
import GatewayAuth
import GatewayConfig
import GatewayHandshake
import GatewayServer
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Request bytes → `HTTPRequestDecoder` with the gateway's limits → `HandshakePlanner.decide`
/// against a fixed snapshot. A `.forward` plan must not hand the backend anything a lenient
/// backend parser would read as a token, nor a header that could split the request, nor a path
/// whose dot segments a backend would resolve outside the matched route.
final class RequestHeadCheck: Sendable {
    /// Built once: parsing the config and keys per input would dominate the run.
    static let shared = RequestHeadCheck()

    /// The routes: every token carrier enabled, a prefix route, an open route, and one that
    /// forwards the token on purpose.
    static let yaml = """
        listen:
          - address: 127.0.0.1:0
        keys:
          - id: hs
            algorithms: [HS256]
            secret_env: WSGATE_FUZZ_SECRET
        auth:
          token_sources: [header, query:access_token, cookie:wsgate_token, subprotocol]
        routes:
          - path: /ws/chat
            upstream: ws://127.0.0.1:9001/chat?v=1
            auth: required
            claims_to_headers: { sub: X-User-Id, org.id: X-Org-Id }
            forward_payload_header: X-JWT-Claims
          - path: /ws/rooms/*
            upstream: ws://127.0.0.1:9001/rooms/
            auth: optional
            allowed_origins: [https://app.example.com]
          - path: /ws/public
            upstream: ws://127.0.0.1:9001/
            auth: none
          - path: /ws/forward
            upstream: ws://127.0.0.1:9001/
            auth: required
            forward_token: true
        """

    /// The fixed configuration every input is decided against.
    let snapshot: GatewaySnapshot
    /// `limits.max_header_bytes` of that configuration (the decoder's limits).
    let maxHeaderBytes: Int

    /// Loads `yaml` (fatal if it does not: the harness itself is broken then).
    init() {
        do {
            let configuration = try ConfigurationLoader.load(yaml: Self.yaml, baseDirectory: "/nonexistent", environment: FuzzKeys.environment)
            snapshot = GatewaySnapshot(configuration: configuration)
            maxHeaderBytes = configuration.limits.maxHeaderBytes
        } catch {
            fatalError("the fuzz snapshot's config does not load: \(error)")
        }
    }

    /// The first broken invariant of the plan for `input`, if it is forwarded.
    func check(_ input: [UInt8]) -> FuzzFailure? {
        guard let plan = plan(input) else { return nil }
        return Self.problem(in: plan, forwardToken: plan.route.route.forwardToken, snapshot: snapshot)
    }

    /// True when the handshake is forwarded.
    func accepts(_ input: [UInt8]) -> Bool { plan(input) != nil }

    /// The upstream plan for `input`, or nil when it is refused (by the decoder or the planner).
    func plan(_ input: [UInt8]) -> UpstreamPlan? {
        guard let head = decode(input) else { return nil }
        let planner = HandshakePlanner(rules: snapshot.handshake)
        let client = ClientFacts(address: "192.0.2.1:40000", ip: "192.0.2.1", clientIP: "192.0.2.1", peerIsTrustedProxy: false, secure: false)
        guard case .forward(let plan) = planner.decide(head: head, client: client, now: FuzzKeys.now, admission: { _ in nil }) else {
            return nil
        }
        return plan
    }

    /// The first request head NIO's decoder produces from `input`, configured as
    /// `Gateway.configureClientPipeline` does; nil when the decoder refuses the bytes first.
    func decode(_ input: [UInt8]) -> HTTPRequestHead? {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = maxHeaderBytes
        limits.maxHeaderFieldSize = maxHeaderBytes
        limits.maxHeaderFieldCount = 256
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        let decoder = ByteToMessageHandler(
            HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: limits),
            maximumBufferSize: maxHeaderBytes + Gateway.earlyBytesLimit
        )
        guard (try? channel.pipeline.syncOperations.addHandler(decoder)) != nil else { return nil }
        var buffer = channel.allocator.buffer(capacity: input.count)
        buffer.writeBytes(input)
        do {
            try channel.writeInbound(buffer)
        } catch {
            return nil  // the decoder refused the bytes: the gateway answers 400 and closes
        }
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            if case .head(let head) = part { return head }
        }
        return nil
    }

    /// What is wrong with a plan's upstream request, if anything.
    static func problem(in plan: UpstreamPlan, forwardToken: Bool, snapshot: GatewaySnapshot) -> FuzzFailure? {
        let head = plan.head
        // The path a backend routes on: it must still be inside the matched route after the
        // backend resolves dot segments (RFC 3986 §5.2.4), so the client path must have none,
        // percent-encoded ones included (RFC 3986 §2.3: %2E is ".").
        guard plan.clientPath.first == "/", head.uri.first == "/" else {
            return FuzzFailure("upstream path does not start with /: \(head.uri.debugDescription)")
        }
        for segment in plan.clientPath.split(separator: "/", omittingEmptySubsequences: false) {
            let decoded = segment.lowercased().replacingOccurrences(of: "%2e", with: ".")
            if decoded == "." || decoded == ".." {
                return FuzzFailure("path \(plan.clientPath.debugDescription) has a dot segment yet matched route \(plan.route.label)")
            }
        }
        for (name, value) in head.headers {
            if let bad = value.utf8.first(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
                return FuzzFailure("header \(name) carries byte \(bad) upstream")
            }
            if name.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 || $0 == 0x3A }) {
                return FuzzFailure("header name \(name.debugDescription) could split the request")
            }
        }
        if head.uri.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            return FuzzFailure("upstream target \(head.uri.debugDescription) has a space or control byte")
        }
        return carrierProblem(head: head, forwardToken: forwardToken, plan: plan, snapshot: snapshot)
    }

    /// Token carriers as the most lenient backends read them: query parameters split on `&`
    /// and `;` (old CGI and Rack), names trimmed and percent-decoded; cookies split on `;` and
    /// `,` (RFC 2965 allowed `,`), names trimmed of spaces and tabs; any `bearer` subprotocol.
    static func carrierProblem(head: HTTPRequestHead, forwardToken: Bool, plan: UpstreamPlan, snapshot: GatewaySnapshot) -> FuzzFailure? {
        let authorizations = head.headers["authorization"]
        if forwardToken, plan.token != nil {
            if authorizations.count != 1 { return FuzzFailure("forward_token route sent \(authorizations.count) Authorization headers") }
        } else if !authorizations.isEmpty {
            return FuzzFailure("Authorization reached the backend on a route without forward_token")
        }
        let queryNames = Set(snapshot.tokenQueryNames.map { $0.lowercased() })
        if let mark = head.uri.firstIndex(of: "?") {
            let query = head.uri[head.uri.index(after: mark)...]
            for parameter in query.split(whereSeparator: { $0 == "&" || $0 == ";" }) {
                let rawName = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
                let name = (String(rawName).replacingOccurrences(of: "+", with: " ").removingPercentEncodingLeniently())
                    .trimmingSpacesAndTabs().lowercased()
                if queryNames.contains(name) {
                    return FuzzFailure("token query parameter \(name) reached the backend in \(head.uri.debugDescription)")
                }
            }
        }
        let cookieNames = Set(snapshot.tokenCookieNames)
        for value in head.headers["cookie"] {
            for pair in value.split(whereSeparator: { $0 == ";" || $0 == "," }) {
                let name = String(pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]).trimmingSpacesAndTabs()
                if cookieNames.contains(name) {
                    return FuzzFailure("token cookie \(name) reached the backend in Cookie: \(value.debugDescription)")
                }
            }
        }
        for value in head.headers["sec-websocket-protocol"] {
            for entry in value.split(separator: ",") where entry.trimmingSpacesAndTabs().lowercased() == "bearer" {
                return FuzzFailure("the bearer subprotocol carrier reached the backend")
            }
        }
        // The verified token itself, wherever a carrier above missed it: its payload segment
        // anywhere but the payload header (which carries it by design) and a forwarded Authorization.
        if let token = plan.token {
            let segment = "." + Base64URL.encode(token.payload) + "."
            let payloadHeader = plan.route.route.forwardPayloadHeader?.lowercased()
            if head.uri.contains(segment) { return FuzzFailure("the verified token reached the backend in the target") }
            for (name, value) in head.headers where value.contains(segment) {
                let lower = name.lowercased()
                if lower == payloadHeader || (forwardToken && lower == "authorization") { continue }
                return FuzzFailure("the verified token reached the backend in header \(name)")
            }
        }
        return nil
    }
}
