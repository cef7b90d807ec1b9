import ArgumentParser
import Foundation
import GatewayAuth

/// `wsgate revoke (--sub S | --jti J | --sid X | --session ID) [--issued-before T] [--until T]
/// [--reason R]`: closes matching live sessions with 4003 and refuses their tokens from then on.
struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke sessions and tokens (admin API: POST /sessions/revoke).",
        discussion: """
            Matching live sessions are closed with 4003 and the reason; matching tokens are refused \
            (401 token_revoked) until the revocation expires. Times are unix seconds, RFC 3339, or \
            a duration from now (+24h).
            """
    )

    @OptionGroup var admin: AdminOptions
    @Option(help: "Every token of this subject.") var sub: String?
    @Option(help: "The token with this id.") var jti: String?
    @Option(help: "Every token of this identity-provider session.") var sid: String?
    @Option(help: "The live session with this id (see wsgate sessions).") var session: String?
    @Option(help: "Only tokens issued before this time (\"log out everywhere\").") var issuedBefore: String?
    @Option(help: "Lift the revocation at this time.") var until: String?
    @Option(help: "The close reason the clients see (at most 123 bytes).") var reason: String?

    func validate() throws {
        let named = [sub, jti, sid, session].compactMap { $0 }
        guard named.count == 1 else { throw ValidationError("name exactly one of --sub, --jti, --sid, --session") }
        if let reason, reason.utf8.count > 123 { throw ValidationError("--reason is over 123 bytes") }
    }

    func run() async throws {
        let client = try admin.client()
        var body: [String: JSONValue] = [:]
        if let sub { body["sub"] = .string(sub) }
        if let jti { body["jti"] = .string(jti) }
        if let sid { body["sid"] = .string(sid) }
        if let session { body["session"] = .string(session) }
        if let issuedBefore { body["issued_before"] = .integer(Int64(try parseTimeArgument(issuedBefore, option: "--issued-before"))) }
        if let until { body["until"] = .integer(Int64(try parseTimeArgument(until, option: "--until"))) }
        if let reason { body["reason"] = .string(reason) }
        let answer = try await runReportingErrors {
            try await client.call(.POST, "/sessions/revoke", body: JSONValue.object(body).jsonText)
        }
        if admin.json {
            print(answer.jsonText)
            return
        }
        guard case .object(let members) = answer, let revocation = members["revocation"] else {
            throw AdminClientError(message: "POST /sessions/revoke: unexpected answer")
        }
        let closed = members["closed"]?.doubleValue.map { Int($0) } ?? 0
        print("revocation \(revocation.cell("id")) until \(revocation.timeCell("until")); closed \(closed) session\(closed == 1 ? "" : "s")")
        if let warning = members["warning"]?.stringValue { printError("wsgate: warning: \(warning)") }
    }
}
