import ArgumentParser
import GatewayAuth

/// `wsgate revocations [--lift ID] [--json]`: lists the active revocations, or lifts one.
struct RevocationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revocations",
        abstract: "List active revocations, or lift one (admin API: GET /revocations, DELETE /revocations/ID)."
    )

    @OptionGroup var admin: AdminOptions
    @Option(help: "Lift the revocation with this id.") var lift: String?

    func run() async throws {
        let client = try admin.client()
        if let lift {
            let answer = try await runReportingErrors { try await client.call(.DELETE, "/revocations/" + queryEscaped(lift)) }
            if admin.json {
                print(answer.jsonText)
            } else {
                print("lifted \(lift)")
            }
            return
        }
        let answer = try await runReportingErrors { try await client.call(.GET, "/revocations") }
        if admin.json {
            print(answer.jsonText)
            return
        }
        guard case .object(let members) = answer, case .array(let revocations)? = members["revocations"] else {
            throw AdminClientError(message: "GET /revocations: unexpected answer")
        }
        var rows = [["ID", "REVOKES", "ISSUED BEFORE", "UNTIL", "REASON"]]
        for revocation in revocations {
            let what = ["sub", "jti", "sid", "session"].first { revocation.cell($0) != "-" }.map { "\($0)=\(revocation.cell($0))" } ?? "-"
            rows.append([revocation.cell("id"), what, revocation.timeCell("issued_before"), revocation.timeCell("until"), revocation.cell("reason")])
        }
        print(TextTable(rows: rows).text)
        print("\(revocations.count) revocation\(revocations.count == 1 ? "" : "s")")
    }

    /// An id in a path: only hex digits are valid anyway; anything else is escaped so the server
    /// answers with its own 400.
    private func queryEscaped(_ text: String) -> String {
        String(queryString([("x", text)]).dropFirst(3))
    }
}
