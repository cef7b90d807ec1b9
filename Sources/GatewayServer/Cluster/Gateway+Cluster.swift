import AsyncHTTPClient
import Foundation
import GatewayAuth
import GatewayText
import NIOCore
import NIOHTTP1

extension Gateway {
    /// The admin URL this instance advertises in `wsgate_instances`: `cluster.admin_url`, else
    /// `http://` and the admin listener's address (the host name when it listens on every address).
    var advertisedAdminURL: String? {
        if let configured = runtime.snapshot.configuration.cluster?.adminURL { return configured }
        guard let address = adminAddress, let port = address.port else { return nil }
        var host = address.ipAddress ?? "127.0.0.1"
        if host == "0.0.0.0" || host == "::" { host = Gateway.addressOfThisHost() ?? ProcessInfo.processInfo.hostName }
        return "http://" + HostPort.text(host: host, port: port)
    }

    /// The first non-loopback address the host name resolves to (on Kubernetes, the pod's
    /// `/etc/hosts` maps its name to the pod IP, which other pods can reach; its name alone they
    /// cannot resolve); nil when it resolves to nothing else.
    static func addressOfThisHost() -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(ProcessInfo.processInfo.hostName, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(first) }
        var candidates: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if let address = current.pointee.ai_addr,
               getnameinfo(address, current.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                let ip = String(cString: text)
                if !ip.hasPrefix("127."), ip != "::1", !ip.hasPrefix("fe80") { candidates.append(ip) }
            }
            entry = current.pointee.ai_next
        }
        return candidates.first { !$0.contains(":") } ?? candidates.first
    }

    /// Whether this gateway shares revocations through PostgreSQL.
    public var isClustered: Bool { runtime.cluster != nil }

    /// How long another instance may take to list its sessions before it counts as unreachable.
    static let fanOutTimeout: TimeAmount = .seconds(2)

    /// `GET /cluster/instances` (the dashboard's cluster panel): every live instance,
    /// `{"instances":[{"name","admin_url","started_at","heartbeat_at"}]}`, by name.
    func clusterInstancesJSON() async throws(ClusterUnavailable) -> String {
        guard let cluster = runtime.cluster else { throw ClusterUnavailable(reason: "this gateway has no cluster configured") }
        let instances = try await cluster.liveInstances().sorted { $0.name < $1.name }
        let items = instances.map { instance -> String in
            var out = JSONObjectWriter()
            out.add("name", instance.name)
            out.add("admin_url", instance.adminURL)
            out.add("started_at", Int64(instance.startedAt))
            out.add("heartbeat_at", Int64(instance.heartbeatAt))
            return out.text
        }
        return "{\"instances\":[" + items.joined(separator: ",") + "]}"
    }

    /// `GET /sessions?cluster=1`: this instance's sessions and those of every other live instance
    /// (asked at its admin URL with the same `Authorization` the caller gave), oldest first, at
    /// most `query.limit`; `count` adds up every instance's count; instances that did not answer
    /// in time, or answered with an error, are named in `unreachable`.
    func clusterSessions(_ query: SessionQuery, authorization: String?) async throws(ClusterUnavailable) -> String {
        guard let cluster = runtime.cluster else { throw ClusterUnavailable(reason: "this gateway has no cluster configured") }
        let instances = try await cluster.liveInstances()
        let me = instanceName
        let local = sessions(query)
        var count = local.count
        var items: [(openedAt: Double, id: String, text: String)] = local.sessions.map {
            ($0.openedAt, $0.id, $0.jsonObject(instance: me))
        }
        var unreachable: [String] = []
        let others = instances.filter { $0.name != me }
        let answers = await withTaskGroup(of: (String, (count: Int, sessions: [JSONValue])?).self) { group in
            for instance in others {
                group.addTask {
                    guard let url = instance.adminURL else { return (instance.name, nil) }
                    return (instance.name, await Gateway.listSessions(at: url, query: query, authorization: authorization))
                }
            }
            var out: [(String, (count: Int, sessions: [JSONValue])?)] = []
            for await answer in group { out.append(answer) }
            return out
        }
        for (name, answer) in answers {
            guard let answer else {
                unreachable.append(name)
                continue
            }
            count += answer.count
            for session in answer.sessions {
                guard case .object(let members) = session else { continue }
                items.append((members["opened_at"]?.doubleValue ?? 0, members["id"]?.stringValue ?? "", session.jsonText))
            }
        }
        items.sort { ($0.openedAt, $0.id) < ($1.openedAt, $1.id) }
        let listed = items.prefix(query.limit).map(\.text)
        let names = unreachable.sorted().map(JSONText.quoted)
        return "{\"count\":\(count),\"sessions\":[" + listed.joined(separator: ",") + "],\"unreachable\":[" + names.joined(separator: ",") + "]}"
    }

    /// Asks one instance for its sessions; nil when it does not answer 200 with a listing in time.
    private static func listSessions(
        at adminURL: String, query: SessionQuery, authorization: String?
    ) async -> (count: Int, sessions: [JSONValue])? {
        var request = HTTPClientRequest(url: adminURL + "/sessions?" + query.queryString)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: fanOutTimeout)
            guard response.status == .ok else { return nil }
            let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
            guard case .object(let members) = try JSONValue(parsing: Array(body.readableBytesView)),
                  let count = members["count"]?.doubleValue, case .array(let sessions)? = members["sessions"] else { return nil }
            return (Int(count), sessions)
        } catch {
            return nil
        }
    }
}
