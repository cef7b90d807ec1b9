import Foundation

/// The build-time tool behind the `EmbedDashboard` plugin:
/// `embed-dashboard OUTPUT.swift NAME=FILE …` writes `enum DashboardAssets` with one
/// `static let NAME: String` per file, holding the file's exact text.
@main
enum EmbedDashboardTool {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let output = arguments.first, arguments.count > 1 else {
            fail("usage: embed-dashboard OUTPUT.swift NAME=FILE …")
        }
        var source = """
            // Generated at build time by the EmbedDashboard plugin from dashboard/: not in git.

            /// The dashboard's files, embedded so the binary needs nothing at run time.
            enum DashboardAssets {

            """
        for pair in arguments.dropFirst() {
            guard let equals = pair.firstIndex(of: "="), pair[..<equals].allSatisfy({ $0.isLetter || $0.isNumber }) else {
                fail("not NAME=FILE: \(pair)")
            }
            let name = pair[..<equals], path = String(pair[pair.index(after: equals)...])
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                fail("cannot read \(path) as UTF-8")
            }
            source += "    /// \((path as NSString).lastPathComponent)\n    static let \(name) = \(literal(text))\n"
        }
        source += "}\n"
        do {
            try Data(source.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            fail("cannot write \(output): \(error)")
        }
    }

    /// A one-line Swift string literal with exactly `text`'s characters: quotes, backslashes and
    /// every control character escaped, the rest (including non-ASCII) kept as written.
    static func literal(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + text.utf8.count / 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.properties.generalCategory == .lineSeparator
                || scalar.properties.generalCategory == .paragraphSeparator:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("embed-dashboard: \(message)\n".utf8))
        exit(1)
    }
}
