import ArgumentParser
import GatewayAuth

/// `wsgate sessions [--sub S] [--route P] [--jti J] [--sid X] [--limit N] [--json]`: the live
/// sessions of a gateway, from its admin API.
struct SessionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List a gateway's live sessions (admin API: GET /sessions)."
    )

    @OptionGroup var admin: AdminOptions
    @Option(help: "Only this subject.") var sub: String?
    @Option(help: "Only this route (its pattern as configured).") var route: String?
    @Option(help: "Only this token id.") var jti: String?
    @Option(help: "Only this identity-provider session id.") var sid: String?
    @Option(help: "At most this many sessions.") var limit: Int?
    @Flag(help: "Every live instance of the cluster (GET /sessions?cluster=1), not only the one asked.") var cluster = false

    func run() async throws {
        let client = try admin.client()
        var query: [(String, String)] = []
        if let sub { query.append(("sub", sub)) }
        if let route { query.append(("route", route)) }
        if let jti { query.append(("jti", jti)) }
        if let sid { query.append(("sid", sid)) }
        if let limit { query.append(("limit", String(limit))) }
        if cluster { query.append(("cluster", "1")) }
        let answer = try await runReportingErrors { try await client.call(.GET, "/sessions" + queryString(query)) }
        if admin.json {
            print(answer.jsonText)
            return
        }
        guard case .object(let members) = answer, case .array(let sessions)? = members["sessions"] else {
            throw AdminClientError(message: "GET /sessions: unexpected answer")
        }
        var rows = [["ID", "ROUTE", "SUB", "CLIENT", "OPENED", "EXPIRES", "INSTANCE"]]
        for session in sessions {
            rows.append([
                session.cell("id"), session.cell("route"), session.cell("sub"), session.cell("client"),
                session.timeCell("opened_at"), session.timeCell("exp"), session.cell("instance"),
            ])
        }
        print(TextTable(rows: rows).text)
        let count = members["count"]?.doubleValue.map { Int($0) } ?? sessions.count
        print("\(count) session\(count == 1 ? "" : "s")" + (count > sessions.count ? " (\(sessions.count) shown)" : ""))
        if case .array(let unreachable)? = members["unreachable"], !unreachable.isEmpty {
            print("unreachable: " + unreachable.compactMap(\.stringValue).joined(separator: ", "))
        }
    }
}

/// `?a=b&c=d` with each value percent-encoded, or "" for none.
func queryString(_ pairs: [(String, String)]) -> String {
    guard !pairs.isEmpty else { return "" }
    let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
    func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if unreserved.contains(byte) { out.append(Character(UnicodeScalar(byte))) } else { out += String(format: "%%%02X", byte) }
        }
        return out
    }
    return "?" + pairs.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
}

/// Runs an admin call; a failure is printed as one line and the command exits 1.
func runReportingErrors<T>(_ call: () async throws -> T) async throws -> T {
    do {
        return try await call()
    } catch let error as AdminClientError {
        printError("wsgate: \(error.message)")
        throw ExitCode.failure
    }
}
