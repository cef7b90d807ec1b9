import ArgumentParser
import AsyncHTTPClient
import Foundation
import GatewayAuth
import GatewayConfig
import GatewayHandshake
import GatewayServer
import GatewayText
import NIOCore
import NIOHTTP1

/// `--admin URL`, `--config FILE`, `--token-file FILE`: how the session commands reach a gateway's
/// admin API and authenticate to it.
struct AdminOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The admin API, e.g. http://127.0.0.1:9090 (default: admin.address of --config).", valueName: "url"))
    var admin: String?

    @Option(name: .long, help: ArgumentHelp("The gateway's config: its admin address and admin token.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("A file holding the admin bearer token (else $WSGATE_ADMIN_TOKEN, else the config's).", valueName: "file"))
    var tokenFile: String?

    @Flag(name: .long, help: "Print the API's JSON instead of a table.")
    var json = false

    /// The client these options describe, or a message saying what is missing.
    func client() throws -> AdminClient {
        var base = admin
        var token: String?
        if let tokenFile {
            do {
                token = String(decoding: try KeyMaterialReader.secret(fromFile: tokenFile), as: UTF8.self)
            } catch {
                throw ValidationError("--token-file: \(error.description)")
            }
        } else if let value = ProcessInfo.processInfo.environment["WSGATE_ADMIN_TOKEN"], !value.isEmpty {
            token = value
        }
        if let config, base == nil || token == nil {
            let loaded: GatewayConfiguration
            do throws(ConfigurationProblems) {
                loaded = try ConfigurationLoader.load(path: config)
            } catch {
                throw ValidationError("--config \(config): " + error.problems.map(\.description).joined(separator: "; "))
            }
            guard let adminConfig = loaded.admin else { throw ValidationError("--config \(config) has no admin listener") }
            if base == nil {
                var host = adminConfig.endpoint.host
                if host == "0.0.0.0" { host = "127.0.0.1" } else if host == "::" { host = "::1" }
                base = "http://" + SocketEndpoint(host: host, port: adminConfig.endpoint.port).description
            }
            token = token ?? adminConfig.bearerToken
        }
        guard var base else { throw ValidationError("say where the admin API is: --admin URL or --config FILE") }
        while base.hasSuffix("/") { base.removeLast() }
        guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
            throw ValidationError("--admin \(base): expected http://HOST:PORT")
        }
        return AdminClient(base: base, token: token)
    }
}

/// A small client of the admin API: one request, the JSON answer, a readable error otherwise.
struct AdminClient {
    let base: String
    let token: String?

    /// Sends one request; returns the parsed JSON of a 2xx answer, throws a one-line message else.
    func call(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> JSONValue {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
        } catch {
            throw AdminClientError(message: "\(base): \(error)")
        }
        let parsed = try? JSONValue(parsing: Array(bytes.readableBytesView))
        guard (200..<300).contains(response.status.code) else {
            var message = "\(method.rawValue) \(path): HTTP \(response.status.code)"
            if case .object(let members)? = parsed, let error = members["error"]?.stringValue {
                message += ": " + error
                if let field = members["field"]?.stringValue { message += " (field \(field))" }
            }
            throw AdminClientError(message: message)
        }
        guard let parsed else { throw AdminClientError(message: "\(method.rawValue) \(path): the answer is not JSON") }
        return parsed
    }
}

/// A failed admin call, printed as one line.
struct AdminClientError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Columns of text, left-aligned, for the session commands' tables.
struct TextTable {
    var rows: [[String]]

    var text: String {
        guard let header = rows.first else { return "" }
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension JSONValue {
    /// A member of an object as display text ("-" when absent).
    func cell(_ name: String) -> String {
        guard case .object(let members) = self, let value = members[name] else { return "-" }
        if let text = value.stringValue { return text }
        return value.jsonText
    }

    /// A unix-seconds member as UTC time ("-" when absent).
    func timeCell(_ name: String) -> String {
        guard case .object(let members) = self, let seconds = members[name]?.doubleValue else { return "-" }
        return RFC3339.string(epochMilliseconds: Int64((seconds * 1000).rounded()))
    }
}

/// Parses a time given on the command line: unix seconds, RFC 3339, or a duration from now
/// (`+1h`; `30m` means from now too).
func parseTimeArgument(_ text: String, option: String, now: Date = Date()) throws -> Double {
    if let seconds = Double(text), seconds.isFinite { return seconds }
    if let millis = RFC3339.epochMilliseconds(text) { return Double(millis) / 1000 }
    let offset = text.hasPrefix("+") ? String(text.dropFirst()) : text
    if let duration = ConfigDuration(offset) {
        return now.timeIntervalSince1970 + Double(duration.nanoseconds) / 1e9
    }
    throw ValidationError("\(option) \(text): expected unix seconds, an RFC 3339 time, or a duration from now such as +1h")
}
