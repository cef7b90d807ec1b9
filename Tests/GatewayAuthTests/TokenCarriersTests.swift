import GatewayAuth
import Testing

/// The query and cookie carrier parsers read every spelling a lenient backend would read as a
/// token carrier (Go `net/http`, Node `cookie`, Python `SimpleCookie` and `parse_qs`, PHP).
@Suite struct TokenCarriersTests {
    /// One hostile `Cookie` value, the values found for `wsgate_token`, and what is forwarded.
    struct CookieCase: CustomTestStringConvertible, Sendable {
        let header: String
        let found: [String]
        let forwarded: String?
        var testDescription: String { header.debugDescription }
    }

    static let cookieCases: [CookieCase] = [
        CookieCase(header: "wsgate_token=T", found: ["T"], forwarded: nil),
        CookieCase(header: "a=b; wsgate_token=T; c=d", found: ["T"], forwarded: "a=b; c=d"),
        // Go `textproto.TrimString` and Node `cookie` skip a tab before the name.
        CookieCase(header: "a=b;\twsgate_token=EVIL", found: ["EVIL"], forwarded: "a=b"),
        // Go trims the name; SimpleCookie allows `\s*=\s*`.
        CookieCase(header: "wsgate_token =EVIL", found: ["EVIL"], forwarded: nil),
        CookieCase(header: "wsgate_token= \"EVIL\" ", found: ["EVIL"], forwarded: nil),
        // SimpleCookie separates cookies by whitespace as well as `;`.
        CookieCase(header: "a=b wsgate_token=EVIL; c=d", found: ["EVIL"], forwarded: "c=d"),
        // RFC 2965 §3.3.4 allowed `,` between cookies.
        CookieCase(header: "a=b,wsgate_token=EVIL", found: ["EVIL"], forwarded: "a=b"),
        // PHP decodes cookie names; ASP.NET ignores case.
        CookieCase(header: "wsgate%5Ftoken=EVIL; a=b", found: ["EVIL"], forwarded: "a=b"),
        CookieCase(header: "WSGATE_TOKEN=EVIL", found: ["EVIL"], forwarded: nil),
        // Node splits inside quotes and decodes values.
        CookieCase(header: "a=\"x; wsgate_token=%45VIL\"", found: ["EVIL\""], forwarded: "a=\"x"),
        CookieCase(header: "wsgate.token=EVIL; a=b", found: ["EVIL"], forwarded: "a=b"),
        CookieCase(header: "x_wsgate_token=1; wsgate_tokens=2", found: [], forwarded: "x_wsgate_token=1; wsgate_tokens=2"),
    ]

    @Test(arguments: cookieCases)
    func cookieCarriers(_ scenario: CookieCase) {
        #expect(TokenCarriers.cookieValues(named: "wsgate_token", in: scenario.header) == scenario.found)
        #expect(TokenCarriers.cookieHeader(scenario.header, removing: ["wsgate_token"]) == scenario.forwarded)
    }

    /// One hostile query, the values found for `access_token`, and what is forwarded.
    struct QueryCase: CustomTestStringConvertible, Sendable {
        let query: String
        let found: [String?]
        let forwarded: String?
        var testDescription: String { query }
    }

    static let queryCases: [QueryCase] = [
        QueryCase(query: "access_token=T", found: ["T"], forwarded: nil),
        QueryCase(query: "x=1&access_token=T&y=2", found: ["T"], forwarded: "x=1&y=2"),
        // `;` separates pairs for older Python, older Go, Rails, servlet containers.
        QueryCase(query: "x=1;access_token=EVIL", found: ["EVIL"], forwarded: "x=1"),
        QueryCase(query: "x=1;y=2", found: [], forwarded: "x=1;y=2"),
        QueryCase(query: "access%5Ftoken=EVIL", found: ["EVIL"], forwarded: nil),
        QueryCase(query: "access_token+=EVIL&x=1", found: ["EVIL"], forwarded: "x=1"),
        QueryCase(query: "%20access_token=EVIL", found: ["EVIL"], forwarded: nil),
        QueryCase(query: "Access_Token=EVIL", found: ["EVIL"], forwarded: nil),
        QueryCase(query: "access_token=A&access_token=B", found: ["A", "B"], forwarded: nil),
        QueryCase(query: "access_token=%ZZ", found: [nil], forwarded: nil),
        QueryCase(query: "access_token", found: [""], forwarded: nil),
        // PHP: `name[]` is an entry of `name`; `.` and spaces in names are `_`.
        QueryCase(query: "access_token[]=EVIL&x=1", found: ["EVIL"], forwarded: "x=1"),
        QueryCase(query: "access_token%5B0%5D=EVIL", found: ["EVIL"], forwarded: nil),
        QueryCase(query: "access.token=EVIL", found: ["EVIL"], forwarded: nil),
        QueryCase(query: "access+token=EVIL", found: ["EVIL"], forwarded: nil),
        QueryCase(query: "access_tokens=1&xaccess_token=2&access_token[=3", found: [], forwarded: "access_tokens=1&xaccess_token=2&access_token[=3"),
    ]

    @Test(arguments: queryCases)
    func queryCarriers(_ scenario: QueryCase) {
        #expect(TokenCarriers.queryValues(named: "access_token", in: scenario.query[...]) == scenario.found)
        #expect(TokenCarriers.query(scenario.query[...], removing: ["access_token"]).map(String.init) == scenario.forwarded)
    }

    @Test func lenientNamesDecodeTrimAndFoldCase() {
        #expect(TokenCarriers.lenientName("  Access%5ftoken+\t".utf8) == "access_token")
        #expect(TokenCarriers.lenientName("a%zzb".utf8) == "a%zzb")
        #expect(TokenCarriers.lenientName("a%4".utf8) == "a%4")
        #expect(TokenCarriers.lenientName("Access.Token[x]".utf8) == "access_token")
        #expect(TokenCarriers.lenientName("access_token[".utf8) == "access_token[")
    }
}
