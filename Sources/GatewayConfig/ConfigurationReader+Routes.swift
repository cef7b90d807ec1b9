import Foundation
import GatewayAuth
import GatewayHandshake
import Yams

extension ConfigurationReader {
    /// Keys a route may have.
    static let routeKeys = [
        "path", "upstream", "auth", "require_claims", "require_scopes", "claims_to_headers",
        "forward_payload_header", "forward_token", "allowed_origins", "token_sources",
        "expiry_close_code", "max_connections", "tls_ca_file", "insecure_skip_verify", "token_refresh",
    ]

    /// Headers a route may not set from claims: they carry the handshake itself, or the gateway
    /// sets them (RFC 6455 §4.1, RFC 7230 §6.1).
    static let reservedHeaders: Set<String> = [
        "host", "connection", "upgrade", "content-length", "transfer-encoding", "te", "trailer",
        "keep-alive", "proxy-connection", "sec-websocket-key", "sec-websocket-version",
        "sec-websocket-protocol", "sec-websocket-extensions", "sec-websocket-accept",
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "authorization", "cookie", "origin",
    ]

    /// Reads `routes:`; returns the routes with the nodes they came from, for later checks.
    func routes(_ located: ConfigNode?) -> [(RouteConfiguration, ConfigNode)] {
        guard let located, let items = sequence(located) else { return [] }
        var out: [(RouteConfiguration, ConfigNode)] = []
        var seen: [RoutePattern: String] = [:]
        for item in items {
            guard let route = route(item) else { continue }
            if let first = seen[route.pattern] {
                let pathNode = mapping(item, allowed: nil)?["path"] ?? item
                report(pathNode, "\"\(route.pattern)\" is already routed by \(first)")
                continue
            }
            seen[route.pattern] = item.path
            out.append((route, item))
        }
        return out
    }

    /// One route; nil when it has problems (they are reported).
    private func route(_ item: ConfigNode) -> RouteConfiguration? {
        guard let entry = mapping(item, allowed: Self.routeKeys) else { return nil }
        let before = problems.count

        var pattern: RoutePattern?
        if let node = entry["path"] {
            pattern = routePattern(node)
        } else {
            report(path: entry.path("path"), line: item.line, "is required (\"/ws/chat\", or \"/ws/rooms/*\" for a prefix)")
        }

        var upstreams: [UpstreamTarget] = []
        if let node = entry["upstream"] {
            upstreams = upstreamTargets(node)
        } else {
            report(path: entry.path("upstream"), line: item.line, "is required (ws://host:port/path or wss://…, or a list of them)")
        }
        let caFile = entry["tls_ca_file"].flatMap(existingFile)
        let insecure = entry["insecure_skip_verify"].flatMap(bool) ?? false
        if caFile != nil || insecure, !upstreams.isEmpty, !upstreams.contains(where: \.secure) {
            let key = caFile != nil ? "tls_ca_file" : "insecure_skip_verify"
            report(entry[key]!, "only applies to wss:// upstreams, and this route has none")
        }
        for index in upstreams.indices {
            upstreams[index].caFile = caFile
            upstreams[index].insecureSkipVerify = insecure
        }

        let auth = entry["auth"].flatMap { choice($0, [("required", AuthMode.required), ("optional", .optional), ("none", .none)]) } ?? .required

        var requirements = ClaimRequirements()
        if let node = entry["require_claims"] { requirements.claims = claimRequirements(node) }
        if let node = entry["require_scopes"], let scopes = strings(node) {
            for (scope, scopeNode) in scopes where scope.contains(" ") {
                report(scopeNode, "\"\(scope)\" contains a space; list each scope separately (RFC 6749 §3.3)")
            }
            requirements.scopes = scopes.map(\.0)
        }

        var claimsToHeaders: [ClaimHeader] = []
        var headerOwners: [String: String] = [:]
        if let node = entry["claims_to_headers"], let map = mapping(node, allowed: nil) {
            for (claim, keyNode, value) in map.entries {
                if !Self.isClaimPath(claim) {
                    report(path: value.path, line: keyNode.mark?.line, "\"\(claim)\" is not a claim path (names separated by single dots, e.g. org.id)")
                }
                guard let header = headerName(value) else { continue }
                if let owner = headerOwners[header.lowercased()] {
                    report(value, "header \(header) is already set from claim \(owner)")
                    continue
                }
                headerOwners[header.lowercased()] = claim
                claimsToHeaders.append(ClaimHeader(claim: claim, header: header))
            }
        }
        var payloadHeader: String?
        if let node = entry["forward_payload_header"], let header = headerName(node) {
            if let owner = headerOwners[header.lowercased()] {
                report(node, "header \(header) is already set from claim \(owner)")
            }
            payloadHeader = header
        }
        let forwardToken = entry["forward_token"].flatMap(bool) ?? false

        var allowedOrigins: [String]?
        if let node = entry["allowed_origins"], let origins = strings(node) {
            if origins.isEmpty {
                report(node, "is empty; leave allowed_origins out to allow any origin")
            }
            if origins.map(\.0) != ["*"] {  // ["*"] spells "any origin", like leaving the key out
                for (origin, originNode) in origins where !Self.isOrigin(origin) {
                    report(originNode, "\"\(origin)\" is not an origin (scheme://host[:port], no path, RFC 6454 §6.2)")
                }
                allowedOrigins = origins.map(\.0)
            }
        }
        let tokenSources = entry["token_sources"].flatMap(tokenSources)
        var expiryCloseCode: UInt16 = 4001
        if let node = entry["expiry_close_code"], let code = integer(node, in: 1000...4999) {
            if code >= 4000 || [1000, 1001, 1008].contains(code) {
                expiryCloseCode = UInt16(code)
            } else {
                report(node, "\(code) is not a close code to send on expiry; use 4000–4999 (private use, RFC 6455 §7.4.2) or 1000, 1001, 1008")
            }
        }
        let maxConnections = entry["max_connections"].flatMap { integer($0, in: 1...Int.max) }
        var tokenRefresh: TokenRefreshSettings?
        if let node = entry["token_refresh"], let settings = mapping(node, allowed: ["notify_before", "grace"]) {
            var refresh = TokenRefreshSettings()
            if let notify = settings["notify_before"], let value = duration(notify, minimum: ConfigDuration(nanoseconds: 0)) {
                refresh.notifyBefore = .nanoseconds(value.nanoseconds)
            }
            if let grace = settings["grace"], let value = duration(grace, minimum: ConfigDuration(nanoseconds: 0)) {
                refresh.grace = .nanoseconds(value.nanoseconds)
            }
            tokenRefresh = refresh
        }

        if auth == .none {
            for key in ["require_claims", "require_scopes", "claims_to_headers", "forward_payload_header", "forward_token", "token_sources", "token_refresh"] {
                if let node = entry[key], !(key == "forward_token" && node.node.bool == false) {
                    report(path: node.path, line: entry.entries.first { $0.key == key }?.keyNode.mark?.line ?? node.line,
                           "has no effect on a route with auth: none")
                }
            }
        }

        guard problems.count == before, let pattern else { return nil }
        return RouteConfiguration(
            pattern: pattern,
            upstreams: upstreams,
            auth: auth,
            requirements: requirements,
            claimsToHeaders: claimsToHeaders,
            forwardPayloadHeader: payloadHeader,
            forwardToken: forwardToken,
            allowedOrigins: allowedOrigins,
            tokenSources: tokenSources,
            expiryCloseCode: expiryCloseCode,
            maxConnections: maxConnections,
            tokenRefresh: tokenRefresh
        )
    }

    /// `/exact/path` or `/prefix/*`.
    private func routePattern(_ node: ConfigNode) -> RoutePattern? {
        guard let path = nonEmptyString(node) else { return nil }
        guard path.hasPrefix("/") else {
            report(node, "\"\(path)\" must start with /")
            return nil
        }
        if let bad = path.first(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }) {
            report(node, "\"\(path)\" contains \"\(bad)\"; a route matches the path only (queries never take part)")
            return nil
        }
        let body = path.hasSuffix("/*") ? path.dropLast(2) : Substring(path)
        if body.contains("*") {
            report(node, "\"\(path)\": * is only allowed as a final /* (prefix match)")
            return nil
        }
        if body.contains("//") {
            report(node, "\"\(path)\" contains an empty segment (//)")
            return nil
        }
        return RoutePattern(path)
    }

    /// One ws:// or wss:// URL, or a non-empty list of them.
    private func upstreamTargets(_ node: ConfigNode) -> [UpstreamTarget] {
        guard let urls = strings(node) else { return [] }
        if urls.isEmpty { report(node, "must list at least one upstream") }
        var targets: [UpstreamTarget] = []
        for (url, urlNode) in urls {
            if let target = UpstreamTarget(url: url) {
                targets.append(target)
            } else {
                report(urlNode, "\"\(url)\" is not a ws:// or wss:// URL")
            }
        }
        return targets
    }

    /// `claim.path: value` or `claim.path: [one, of, these]`.
    private func claimRequirements(_ node: ConfigNode) -> [ClaimRequirement] {
        guard let map = mapping(node, allowed: nil) else { return [] }
        var out: [ClaimRequirement] = []
        for (claim, keyNode, value) in map.entries {
            if !Self.isClaimPath(claim) {
                report(path: value.path, line: keyNode.mark?.line, "\"\(claim)\" is not a claim path (names separated by single dots, e.g. org.id)")
                continue
            }
            let items: [ConfigNode]
            if case .sequence = value.node {
                items = sequence(value) ?? []
                if items.isEmpty {
                    report(value, "is an empty list, which no token could satisfy")
                    continue
                }
            } else {
                items = [value]
            }
            var allowed: [JSONValue] = []
            for item in items {
                guard let json = jsonScalar(item) else { continue }
                allowed.append(json)
            }
            if allowed.count == items.count { out.append(ClaimRequirement(path: claim, allowed: allowed)) }
        }
        return out
    }

    /// A YAML scalar as a JSON value: integers, decimals, booleans, null and strings keep their type.
    func jsonScalar(_ located: ConfigNode) -> JSONValue? {
        guard case .scalar(let scalar) = located.node else {
            report(located, "expected a value (string, number, true/false), got \(located.summary)")
            return nil
        }
        guard scalar.style == .plain else { return .string(scalar.string) }
        switch located.node.tag.rawValue {
        case Tag.Name.null.rawValue: return .null
        case Tag.Name.bool.rawValue: if let value = located.node.bool { return .bool(value) }
        case Tag.Name.int.rawValue: if let value = located.node.int { return .integer(Int64(value)) }
        case Tag.Name.float.rawValue: if let value = located.node.float { return .number(value) }
        default: break
        }
        return .string(scalar.string)
    }

    /// A header name: an RFC 7230 token, not one of the handshake's own headers.
    private func headerName(_ node: ConfigNode) -> String? {
        guard let name = nonEmptyString(node) else { return nil }
        guard Self.isToken(name) else {
            report(node, "\"\(name)\" is not a valid header name (RFC 7230 §3.2.6 token)")
            return nil
        }
        guard !Self.reservedHeaders.contains(name.lowercased()) else {
            report(node, "\(name) is set by the handshake or the gateway itself and cannot carry a claim")
            return nil
        }
        return name
    }

    /// `name` or `a.b.c`, no empty segments.
    static func isClaimPath(_ text: String) -> Bool {
        !text.isEmpty && !text.split(separator: ".", omittingEmptySubsequences: false).contains { $0.isEmpty || $0.contains(where: \.isWhitespace) }
    }

    /// `scheme://host[:port]` or `null` (RFC 6454 §6.2).
    static func isOrigin(_ text: String) -> Bool {
        if text == "null" { return true }
        guard let range = text.range(of: "://") else { return false }
        let scheme = text[..<range.lowerBound]
        let authority = text[range.upperBound...]
        return !scheme.isEmpty && scheme.allSatisfy { $0.isLetter || $0.isNumber || "+-.".contains($0) }
            && !authority.isEmpty && !authority.contains { "/?#@ ".contains($0) }
    }
}
