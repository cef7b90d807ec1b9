import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Options shared by the load scenarios (`handshake`, `echo`, `stream`, `idle`).
struct LoadOptions: ParsableArguments {
    /// The WebSocket URL to load.
    @Option(help: "Target URL, ws://host:port/path or wss://host:port/path.")
    var url: String = "ws://127.0.0.1:8080/ws/chat"

    /// A fixed token; sent as `Authorization: Bearer`.
    @Option(help: "A token to send as Authorization: Bearer (all connections).")
    var token: String?

    /// A private key (PEM) to mint tokens with.
    @Option(help: "Private key PEM to mint tokens with (RS*/PS*/ES*/EdDSA).")
    var key: String?

    /// An environment variable holding an HMAC secret to mint tokens with.
    @Option(name: .customLong("secret-env"), help: "Environment variable holding an HMAC secret to mint tokens with.")
    var secretEnv: String?

    /// The algorithm of minted tokens.
    @Option(help: "Algorithm of minted tokens (default RS256 with --key, HS256 with --secret-env).")
    var alg: String?

    /// The kid of minted tokens.
    @Option(help: "kid of minted tokens.")
    var kid: String?

    /// Claims of minted tokens.
    @Option(help: "sub of minted tokens.")
    var sub: String = "bench"

    /// iss of minted tokens.
    @Option(help: "iss of minted tokens.")
    var iss: String?

    /// aud of minted tokens.
    @Option(help: "aud of minted tokens.")
    var aud: String?

    /// Extra claims, `name=value` (value JSON when it parses).
    @Option(name: .customLong("claim"), help: "Extra claim name=value for minted tokens (repeatable).")
    var claims: [String] = []

    /// How many distinct tokens to mint and rotate through.
    @Option(help: "Distinct tokens minted at start and rotated through (signing is not measured).")
    var tokens: Int = 16

    /// Minted tokens kept in a file, so that many runs can share one expensive minting.
    @Option(name: .customLong("tokens-file"), help: "Read the tokens from this file (one per line); when it does not exist, mint --tokens and write them there.")
    var tokensFile: String?

    /// Local addresses connections are bound to, round robin.
    @Option(name: .customLong("source-addresses"), help: "Comma-separated local addresses to bind (127.0.0.2,127.0.0.3…): >64k connections on loopback.")
    var sourceAddresses: String?

    /// Processes whose CPU time and RSS are sampled at the edges of the measured window.
    @Option(name: .customLong("watch-pid"), help: "A process (the proxy) whose CPU time (/proc/PID/stat) and RSS are sampled at the window's edges (repeatable).")
    var watchPIDs: [Int32] = []

    /// A name for the report.
    @Option(help: "A label for the report (e.g. wsgate, haproxy).")
    var label: String = ""

    /// JSON instead of a table.
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    /// The TLS version of wss:// connections.
    @Option(name: .customLong("tls-version"), help: "TLS version for wss:// (1.3 or 1.2).")
    var tlsVersion: String = "1.3"

    /// Whether the client sets TCP_NODELAY (browsers do; many scripts and libraries do not).
    @Option(help: "TCP_NODELAY on the client's sockets: on or off (off: Nagle holds a small write while an earlier one is unacknowledged).")
    var nodelay: String = "on"

    /// The parsed target.
    func target() throws -> LoadTarget {
        guard var target = LoadTarget(url: url) else { throw ValidationError("--url must be ws://host:port/path or wss://host:port/path") }
        switch nodelay {
        case "on": target.noDelay = true
        case "off": target.noDelay = false
        default: throw ValidationError("--nodelay takes on or off")
        }
        switch tlsVersion {
        case "1.3": target.tlsVersion = .tlsv13
        case "1.2": target.tlsVersion = .tlsv12
        default: throw ValidationError("--tls-version takes 1.3 or 1.2")
        }
        target.tls = try target.makeTLSContext()
        return target
    }

    /// The tokens to rotate through (empty: no Authorization header).
    func makeTokens() throws -> [String] {
        if let token { return [token] }
        guard let tokensFile else { return try mintTokens() }
        if let saved = FileManager.default.contents(atPath: tokensFile) {
            return String(decoding: saved, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        let minted = try mintTokens()
        try Data((minted.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: tokensFile))
        return minted
    }

    /// Signs `tokens` fresh tokens (valid for an hour, distinct `jti`s).
    private func mintTokens() throws -> [String] {
        let signer: TokenSigner
        if let key {
            let algorithm = JWTAlgorithm(rawValue: alg ?? "RS256")
            guard let algorithm else { throw ValidationError("unknown --alg") }
            let pem = try [UInt8](Data(contentsOf: URL(fileURLWithPath: key)))
            signer = try TokenSigner.privateKey(algorithm, pem: pem, kid: kid)
        } else if let secretEnv {
            guard let secret = ProcessInfo.processInfo.environment[secretEnv] else { throw ValidationError("\(secretEnv) is not set") }
            guard let algorithm = JWTAlgorithm(rawValue: alg ?? "HS256") else { throw ValidationError("unknown --alg") }
            signer = try TokenSigner.hmac(algorithm, secret: Array(secret.utf8), kid: kid)
        } else {
            return []
        }
        let now = Int64(Date().timeIntervalSince1970)
        var base: [String: JSONValue] = ["sub": .string(sub), "iat": .integer(now), "exp": .integer(now + 3600)]
        if let iss { base["iss"] = .string(iss) }
        if let aud { base["aud"] = .string(aud) }
        for claim in claims {
            guard let eq = claim.firstIndex(of: "=") else { throw ValidationError("--claim takes name=value") }
            let value = String(claim[claim.index(after: eq)...])
            base[String(claim[..<eq])] = Int64(value).map { .integer($0) } ?? (value == "true" ? .bool(true) : value == "false" ? .bool(false) : .string(value))
        }
        return try (0..<max(1, tokens)).map { index in
            var claims = base
            claims["jti"] = .string("bench-\(now)-\(index)")
            return try signer.sign(claims: claims)
        }
    }

    /// The parsed source addresses.
    func sources() throws -> [SocketAddress] {
        guard let sourceAddresses, !sourceAddresses.isEmpty else { return [] }
        return try sourceAddresses.split(separator: ",").map { try SocketAddress(ipAddress: String($0), port: 0) }
    }
}
