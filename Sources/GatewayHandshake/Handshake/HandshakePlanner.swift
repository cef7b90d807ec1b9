import GatewayAuth
import GatewayText
import NIOCore
import NIOHTTP1

/// The request the gateway will send upstream, and what it needs to finish the client's upgrade.
package struct UpstreamPlan {
    /// The matched route.
    package let route: HandshakeRoute
    /// The matched route's index in the configuration's routes (and in `HandshakeRules.routes`).
    package let routeIndex: Int
    /// The rewritten request head for the backend (without a Host: set per upstream), its URI
    /// built for the route's first upstream.
    package var head: HTTPRequestHead
    /// The verified token, when one was given.
    package let token: VerifiedToken?
    /// SHA-256 (hex) of the verified token, for the session registry and session revocations.
    package let tokenDigest: String?
    /// The client offered the `bearer` subprotocol carrier.
    package let offeredBearerProtocol: Bool
    /// The client's path (no query), mapped onto each upstream's path when connecting.
    package let clientPath: Substring
    /// The client's query without token parameters.
    package let upstreamQuery: Substring?
    /// What the rejection log would need if the upstream refuses.
    package var context: RejectionContext

    /// The request head for the route's upstream `index`: `head` itself for the first, whose URI
    /// the planner built, else `head` with the URI mapped onto that upstream's path.
    package func head(forUpstream index: Int) -> HTTPRequestHead {
        guard index != 0 else { return head }
        var head = self.head
        head.uri = HandshakePlanner.upstreamURI(route: route.route, path: clientPath, query: upstreamQuery, upstream: index)
        return head
    }
}

/// What to do with one upgrade request.
package enum HandshakeDecision {
    /// Answer with this rejection and close.
    case reject(Rejection, RejectionContext)
    /// Connect upstream with this plan.
    case forward(UpstreamPlan)
}

/// Facts about the client connection that the pipeline needs.
package struct ClientFacts {
    /// The client as logged: `ip:port` of the peer (or of the PROXY protocol source), or the
    /// address a trusted proxy named in `X-Forwarded-For`.
    package var address: String
    /// The peer's IP (or the PROXY protocol source's), appended to `X-Forwarded-For`.
    package var ip: String
    /// The client IP that rate limits count (the resolved client, not a trusted proxy).
    package var clientIP: String
    /// The direct peer is a trusted proxy: its `X-Forwarded-*` values are kept and appended to.
    package var peerIsTrustedProxy: Bool
    /// The listener terminated TLS.
    package var secure: Bool

    /// Creates the facts directly (tests and the fuzz harness; the gateway uses `resolve`).
    package init(address: String, ip: String, clientIP: String, peerIsTrustedProxy: Bool, secure: Bool) {
        self.address = address
        self.ip = ip
        self.clientIP = clientIP
        self.peerIsTrustedProxy = peerIsTrustedProxy
        self.secure = secure
    }
}

extension ClientFacts {
    /// Resolves the client of a connection from `peer` (the socket peer, or the PROXY protocol
    /// source) and, only when `peer` is a trusted proxy, `X-Forwarded-For`: the rightmost entry
    /// that is not itself a trusted proxy is the client (entries left of it are client-supplied).
    package static func resolve(peer: SocketAddress?, head: HTTPRequestHead?, trusted: [CIDRBlock], secure: Bool) -> ClientFacts {
        let ip = peer?.ipAddress ?? "unknown"
        let port = peer?.port ?? 0
        let address = ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        func isTrusted(_ text: String) -> Bool {
            guard !trusted.isEmpty, let bytes = CIDRBlock.addressBytes(text) else { return false }
            return trusted.contains { $0.contains(bytes) }
        }
        let peerTrusted = isTrusted(ip)
        var facts = ClientFacts(address: address, ip: ip, clientIP: ip, peerIsTrustedProxy: peerTrusted, secure: secure)
        guard peerTrusted, let head else { return facts }
        let chain = TokenCarriers.listEntries(head.headers[canonicalForm: "x-forwarded-for"].map(String.init))
        guard !chain.isEmpty else { return facts }
        let client = chain.reversed().first { !isTrusted($0) } ?? chain[0]
        guard CIDRBlock.addressBytes(client) != nil else { return facts }  // not an address: ignore
        facts.clientIP = client
        facts.address = client.contains(":") ? "[\(client)]" : client
        return facts
    }
}

/// The handshake pipeline of PRODUCT.md as a pure function: request head in, decision out.
/// No I/O, no clock (time is a parameter), no shared state beyond the immutable rules, so each
/// step's rejection is testable without sockets.
package struct HandshakePlanner {
    /// The routes, keys and token carriers every decision is made against.
    let rules: HandshakeRules

    /// A planner for `rules`.
    package init(rules: HandshakeRules) {
        self.rules = rules
    }

    /// Decides what to do with `head`. `admission` is asked once the request is a valid upgrade
    /// for a known route (connection caps, rate limits) and may refuse it; a verified token for
    /// which `revocation` (given the token and its digest) names a revocation is refused
    /// (`token_revoked`, with that description as the log's detail).
    /// `tokenCache` (this event loop's) answers for tokens verified before under these rules;
    /// revocations and the route's requirements are checked on every handshake all the same.
    package func decide(
        head: HTTPRequestHead,
        client: ClientFacts,
        now: Double,
        revocation: (VerifiedToken, _ tokenDigest: String) -> String? = { _, _ in nil },
        tokenCache: VerifiedTokenCache? = nil,
        admission: (HandshakeRoute) -> Rejection?
    ) -> HandshakeDecision {
        let (rawPath, query) = HandshakePlanner.split(uri: head.uri)
        var context = RejectionContext(path: String(rawPath.prefix(512)), client: client.address)
        context.requestID = HandshakePlanner.requestID(from: head.headers)

        // Path well formed, before matching: routes and backends must resolve the same path.
        var path = rawPath
        if rawPath.first == "/" {
            switch RequestPathNormalizer.normalize(rawPath) {
            case .normalized(let normal): path = normal
            case .refused(let why):
                context.detail = why
                return .reject(.badPath, context)
            }
        }

        // Route lookup (404 before any other check, so unknown paths learn nothing more).
        guard path.first == "/", let routeIndex = rules.routeTable.matchIndex(path: path) else {
            context.detail = "no route for this path"
            return .reject(.routeNotFound, context)
        }
        let route = rules.routes[routeIndex]
        context.route = route.label

        guard head.method == .GET else {
            context.detail = "method \(head.method.rawValue) is not GET"
            return .reject(.methodNotAllowed, context)
        }
        if let problem = HandshakePlanner.upgradeProblem(head) {
            context.detail = problem
            return .reject(.badHandshake, context)
        }
        // RFC 6455 §4.2.1 item 6 and §4.4: only version 13; answer 426 naming it.
        let versions = head.headers[canonicalForm: "sec-websocket-version"]
        guard versions.count == 1, versions[0] == "13" else {
            context.detail = "Sec-WebSocket-Version must be 13"
            return .reject(.unsupportedVersion, context)
        }
        if let allowed = route.allowedOrigins, let origin = head.headers.first(name: "origin") {
            guard allowed.contains(origin.lowercased()) else {
                context.detail = "origin \(origin.prefix(200)) is not allowed"
                return .reject(.originForbidden, context)
            }
        }
        if let refusal = admission(route) {
            return .reject(refusal, context)
        }

        // Token: find, verify, check the route's requirements.
        var verified: VerifiedToken?
        var presented: String?
        var digest: String?
        if route.route.auth != .none {
            switch findToken(head: head, query: query, sources: route.sources) {
            case .conflict:
                context.detail = "different tokens in different places"
                return .reject(.tokenConflict, context)
            case .none:
                if route.route.auth == .required {
                    context.detail = "no token in \(route.sources.map(\.description).joined(separator: ", "))"
                    return .reject(.tokenMissing, context)
                }
            case .found(let raw):
                let rawDigest = tokenDigest(raw)
                context.tokenFingerprint = String(rawDigest.prefix(12))
                do {
                    let token: VerifiedToken
                    if let cached = tokenCache?.token(digest: rawDigest, owner: rules, now: now) {
                        token = cached
                    } else {
                        token = try rules.verifier.verify(raw, now: now)
                        tokenCache?.store(token, digest: rawDigest, owner: rules, now: now)
                    }
                    context.kid = token.kid
                    context.issuer = token.issuer
                    context.subject = token.subject
                    if let revoked = revocation(token, rawDigest) {
                        context.detail = revoked
                        return .reject(.tokenRevoked, context)
                    }
                    try token.check(route.route.requirements)
                    digest = rawDigest
                    verified = token
                    presented = raw
                } catch {
                    context.detail = error.detail
                    context.kid = context.kid ?? error.kid
                    context.issuer = context.issuer ?? error.issuer
                    context.subject = context.subject ?? error.subject
                    return .reject(Rejection(error.reason), context)
                }
            }
        }

        let (upstreamHead, offeredBearer, upstreamQuery) = rewrite(
            head: head, path: path, query: query, route: route, token: verified, presentedToken: presented,
            client: client, requestID: context.requestID
        )
        return .forward(UpstreamPlan(route: route, routeIndex: routeIndex, head: upstreamHead, token: verified, tokenDigest: digest, offeredBearerProtocol: offeredBearer, clientPath: path, upstreamQuery: upstreamQuery, context: context))
    }

    // MARK: - Token discovery

    enum TokenSearch: Equatable {
        case none
        case found(String)
        case conflict
    }

    /// Looks in every configured source; two different tokens anywhere is a conflict, so no layer
    /// behind the gateway can ever see a token other than the one verified.
    func findToken(head: HTTPRequestHead, query: Substring?, sources: [TokenSource]) -> TokenSearch {
        var found: String?
        var conflict = false
        func offer(_ candidate: String) {
            if let existing = found {
                if existing != candidate { conflict = true }
            } else {
                found = candidate
            }
        }
        for source in sources {
            switch source {
            case .header:
                // One pass over the headers, no per-call arrays; a value is split on commas only
                // when it has one (a token never does).
                for (name, value) in head.headers where name.utf8.count == 13 && name.lowercased() == "authorization" {
                    let values = value.utf8.contains(UInt8(ascii: ",")) ? value.split(separator: ",").map(String.init) : [value]
                    for value in values {
                        // A non-Bearer Authorization header is not a token source.
                        if let token = TokenCarriers.bearer(authorization: value) { offer(String(token)) }
                    }
                }
            case .query(let name):
                guard let query else { continue }
                for value in TokenCarriers.queryValues(named: name, in: query) {
                    offer(value ?? "")  // broken %-encoding: verified as malformed
                }
            case .cookie(let name):
                // Whole values: a cookie parser's own splitting (at `;` and `,`) is the carriers'.
                for header in head.headers["cookie"] {
                    for value in TokenCarriers.cookieValues(named: name, in: header) { offer(value) }
                }
            case .subprotocol:
                let offered = TokenCarriers.listEntries(head.headers[canonicalForm: "sec-websocket-protocol"].map(String.init))
                for token in TokenCarriers.subprotocolCarrier(offered).tokens { offer(token) }
            }
        }
        if conflict { return .conflict }
        return found.map { .found($0) } ?? .none
    }

    // MARK: - Upstream request

    /// The client's head rewritten for the backend: token carriers and spoofable headers removed,
    /// claim headers and `X-Forwarded-*` set, path mapped onto the upstream's.
    func rewrite(
        head: HTTPRequestHead, path: Substring, query: Substring?, route: HandshakeRoute,
        token: VerifiedToken?, presentedToken: String?, client: ClientFacts, requestID: String?
    ) -> (HTTPRequestHead, Bool, Substring?) {
        let config = route.route
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + config.claimsToHeaders.count + 4)
        var offeredBearer = false
        var forwardedFor: [String] = []
        var forwardedProto: String?
        var forwardedHost: String?
        for (name, value) in head.headers {
            let lower = name.lowercased()
            switch lower {
            case "host", "authorization", "x-request-id", "content-length", "transfer-encoding", "forwarded":
                continue
            case "x-forwarded-for":
                if client.peerIsTrustedProxy { forwardedFor.append(value) }
                continue
            case "x-forwarded-proto":
                if client.peerIsTrustedProxy { forwardedProto = forwardedProto ?? value }
                continue
            case "x-forwarded-host":
                if client.peerIsTrustedProxy { forwardedHost = forwardedHost ?? value }
                continue
            case "cookie":
                let remaining = rules.tokenCookieNames.isEmpty ? value : TokenCarriers.cookieHeader(value, removing: rules.tokenCookieNames)
                if let remaining { headers.add(name: name, value: remaining) }
                continue
            case "sec-websocket-protocol":
                continue  // rebuilt below from all values
            case "sec-websocket-extensions" where config.tokenRefresh != nil:
                // A refresh route reads the start of client text messages, which an extension
                // such as permessage-deflate (RFC 7692) would compress, and with context takeover
                // the backend could not inflate a stream with a message taken out: offer none.
                continue
            default:
                if lower.hasPrefix("x-jwt-") || route.spoofableHeaders.contains(lower) { continue }
                headers.add(name: name, value: value)
            }
        }
        let offered = TokenCarriers.listEntries(head.headers[canonicalForm: "sec-websocket-protocol"].map(String.init))
        if !offered.isEmpty {
            let carrier = TokenCarriers.subprotocolCarrier(offered)
            offeredBearer = carrier.markerSeen
            if !carrier.remaining.isEmpty {
                headers.add(name: "Sec-WebSocket-Protocol", value: carrier.remaining.joined(separator: ", "))
            }
        }
        if let token {
            for mapping in config.claimsToHeaders {
                if let value = token.headerValue(at: mapping.claim), HandshakePlanner.isSafeHeaderValue(value) {
                    headers.add(name: mapping.header, value: value)
                }
            }
            if let payloadHeader = config.forwardPayloadHeader {
                headers.add(name: payloadHeader, value: Base64URL.encode(token.payload))
            }
        }
        if config.forwardToken, token != nil, let presentedToken {
            headers.add(name: "Authorization", value: "Bearer \(presentedToken)")
        }
        forwardedFor.append(client.ip)
        headers.add(name: "X-Forwarded-For", value: forwardedFor.joined(separator: ", "))
        headers.add(name: "X-Forwarded-Proto", value: forwardedProto ?? (client.secure ? "https" : "http"))
        if let host = forwardedHost ?? head.headers.first(name: "host") {
            headers.add(name: "X-Forwarded-Host", value: host)
        }
        if let requestID { headers.add(name: "X-Request-Id", value: requestID) }

        let upstreamQuery = query.flatMap { TokenCarriers.query($0, removing: rules.tokenQueryNames) }
        var newHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: headers)
        newHead.uri = HandshakePlanner.upstreamURI(route: config, path: path, query: upstreamQuery, upstream: 0)
        return (newHead, offeredBearer, upstreamQuery)
    }

    /// The backend URI for a request path: the route's remainder appended to the upstream's path.
    static func upstreamURI(route: RouteConfiguration, path: Substring, query: Substring?, upstream: Int) -> String {
        let target = route.upstreams[upstream]
        let (basePath, baseQuery) = split(uri: target.path)
        var uriPath: String
        switch route.pattern {
        case .exact:
            uriPath = String(basePath)
        case .prefix(let prefix):
            let remainder = path.dropFirst(prefix.utf8.count)
            var base = String(basePath)
            if base.hasSuffix("/"), remainder.hasPrefix("/") { base.removeLast() }
            uriPath = base + remainder
        }
        if uriPath.isEmpty { uriPath = "/" }
        let queries = [baseQuery, query].compactMap { $0 }.filter { !$0.isEmpty }
        return queries.isEmpty ? uriPath : uriPath + "?" + queries.joined(separator: "&")
    }

    // MARK: - RFC 6455 checks

    /// Why `head` is not a valid opening handshake (RFC 6455 §4.2.1), or nil.
    static func upgradeProblem(_ head: HTTPRequestHead) -> String? {
        guard head.version.major == 1, head.version.minor >= 1 else { return "HTTP/1.1 or later is required" }
        guard head.headers.contains(name: "host") else { return "missing Host" }
        // Scans of the header bytes: no arrays of entries or lower-cased copies per handshake.
        guard HTTPWire.listHeader(head.headers, named: "upgrade", contains: "websocket") else { return "Upgrade: websocket is missing" }
        guard HTTPWire.listHeader(head.headers, named: "connection", contains: "upgrade") else { return "Connection: Upgrade is missing" }
        var keys = 0
        var key = ""
        for (name, value) in head.headers where HTTPWire.asciiEqualsIgnoringCase(name.utf8, "sec-websocket-key".utf8) {
            keys += 1
            key = value
        }
        guard keys == 1, StandardBase64.decodedLength(key) == 16 else {
            return "Sec-WebSocket-Key must be 16 bytes in base64"
        }
        if head.headers.contains(name: "transfer-encoding") { return "a request body is not allowed" }
        if let length = head.headers.first(name: "content-length"), length != "0" { return "a request body is not allowed" }
        return nil
    }

    /// Splits `uri` at the first `?`.
    package static func split(uri: String) -> (path: Substring, query: Substring?) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri[...], nil) }
        return (uri[..<mark], uri[uri.index(after: mark)...])
    }

    /// The client's `X-Request-Id` when it is short and plain, else a fresh one.
    static func requestID(from headers: HTTPHeaders) -> String {
        if let given = headers.first(name: "x-request-id"), (1...128).contains(given.utf8.count),
           given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return given
        }
        // 16 random bytes from OpenSSL's per-thread DRBG (the system generator makes a
        // getrandom(2) call per 8 bytes).
        var bytes = (UInt64(0), UInt64(0))
        if !withUnsafeMutableBytes(of: &bytes, { SecureRandom.fill($0) }) {
            var generator = SystemRandomNumberGenerator()
            bytes = (generator.next(), generator.next())
        }
        return withUnsafeBytes(of: &bytes) { HexText.lowercase($0) }
    }

    /// Header values may not carry CR, LF, NUL or other controls (no header injection via claims).
    package static func isSafeHeaderValue(_ value: String) -> Bool {
        HTTPWire.isSafeValue(value)
    }
}

/// Standard (padded) base64, for `Sec-WebSocket-Key` (RFC 6455 §4.1: 16 random bytes).
enum StandardBase64 {
    /// The decoded length of a padded standard base64 string, or nil when it is not one.
    static func decodedLength(_ text: String) -> Int? {
        let count = text.utf8.count
        guard count > 0, count % 4 == 0 else { return nil }
        var padding = 0
        var index = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                if padding > 0 { return nil }
            case UInt8(ascii: "="):
                guard index >= count - 2 else { return nil }
                padding += 1
            default:
                return nil
            }
            index += 1
        }
        return count / 4 * 3 - padding
    }
}
