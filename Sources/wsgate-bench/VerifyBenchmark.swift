import ArgumentParser
import Foundation
import GatewayAuth

/// `wsgate-bench verify`: full-path token verifications per second on one thread, per algorithm,
/// next to OpenSSL's own verify ceiling for the same primitive measured in the same run.
///
/// "Full path" is everything `JWTVerifier.verify` does for a handshake: size check, split, strict
/// base64url, header JSON, key choice, signature, claims JSON (~300 bytes), exp/nbf/iss/aud.
struct VerifyBenchmark: ParsableCommand {
    /// `verify`.
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Token verifications per second (one thread) vs OpenSSL's own ceiling."
    )

    /// Seconds per measured run.
    @Option(help: "Seconds per measured run.")
    var seconds: Double = 1.0

    /// Runs per algorithm; the median is reported.
    @Option(help: "Runs per algorithm (the median is reported).")
    var runs: Int = 5

    /// Seconds `openssl speed` spends per primitive.
    @Option(name: .customLong("openssl-seconds"), help: "Seconds per primitive for `openssl speed`.")
    var opensslSeconds: Int = 3

    /// The openssl binary.
    @Option(help: "The openssl command used for the ceiling.")
    var openssl: String = "openssl"

    /// JSON instead of a table.
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    /// Measure a flood of forged kid-less RS256 tokens against this many keys instead.
    @Option(name: .customLong("forged-keys"), help: "Instead: forged RS256 tokens without kid against N RS256 keys (0: off).")
    var forgedKeys = 0

    /// One row of the result.
    struct Row: Codable {
        /// The JWS alg.
        var algorithm: String
        /// Median full-path verifications per second.
        var verificationsPerSecond: Double
        /// Every run's figure.
        var runs: [Double]
        /// Median signature-layer-only verifications per second (no parsing, no claims).
        var signatureOnlyPerSecond: Double
        /// Median claims parses per second: jansson alone on the same claims set, as verify does it.
        var claimsParsePerSecond: Double
        /// The best ratio to the ceiling any full path could reach that verifies the signature as
        /// this one does and parses the claims with jansson, even if everything else cost nothing:
        /// 1 / (1/signature-only + 1/claims-parse) ÷ ceiling.
        var reachableRatio: Double?
        /// Median of what OpenSSL alone did per second for the same primitive (nil when unavailable).
        var opensslCeiling: Double?
        /// Where the ceiling comes from.
        var ceilingSource: String
        /// Median over runs of (run's verifications/s ÷ the ceiling measured next to it).
        var ratio: Double?
        /// The target, in words.
        var target: String
        /// Whether the target is met.
        var met: Bool?
    }

    /// The JSON document.
    struct Report: Codable {
        /// The benchmark token's length.
        var tokenBytes: Int
        /// Its claims set's length (compact JSON).
        var claimsBytes: Int
        /// Seconds per measured run.
        var secondsPerRun: Double
        /// Runs per algorithm.
        var runs: Int
        /// `openssl version`.
        var opensslVersion: String?
        /// One row per algorithm.
        var rows: [Row]
    }

    /// Refuses non-positive durations and counts.
    mutating func validate() throws {
        guard seconds > 0, runs > 0, opensslSeconds > 0 else { throw ValidationError("seconds and runs must be positive") }
    }

    /// Measures every algorithm and prints the table (or JSON).
    ///
    /// Each of our runs is paired with a ceiling measured right next to it (`openssl speed` for
    /// the same primitive, or the HMAC loop), and the ratio is the median of the per-pair ratios:
    /// on a machine shared with other work the load drifts, and a ceiling measured minutes
    /// apart would compare different machines.
    func run() throws {
        if forgedKeys > 0 {
            try runForged()
            return
        }
        let now = Date().timeIntervalSince1970
        let claims = Self.claims(now: now)
        let policy = VerificationPolicy(issuers: ["https://auth.example.com"], audiences: ["chat"], leewaySeconds: 30)
        let algorithms: [JWTAlgorithm] = [.hs256, .rs256, .ps256, .es256, .edDSA]
        let version = Self.run(openssl, ["version"])?.trimmingCharacters(in: .whitespacesAndNewlines)

        var rows: [Row] = []
        var tokenBytes = 0
        var claimsBytes = 0
        for algorithm in algorithms {
            let signer = try TokenSigner.generating(algorithm, kid: "bench-\(algorithm.rawValue.lowercased())")
            let key = try signer.verificationKey()
            // A second key of the same family in the set, as a real configuration has.
            let verifier = JWTVerifier(keys: KeySet([try TokenSigner.generating(algorithm, kid: "other").verificationKey(), key]), policy: policy)
            let token = try signer.sign(claims: claims)
            tokenBytes = token.utf8.count
            claimsBytes = Array(JSONValue.object(claims).jsonText.utf8).count
            _ = try verifier.verify(token, now: now)  // must verify before it is timed
            let input = Array(token.utf8[..<token.utf8.lastIndex(of: UInt8(ascii: "."))!])
            let signature = Base64URL.decode(String(token.split(separator: ".")[2]))!
            let claimsJSON = Base64URL.decode(String(token.split(separator: ".")[1]))!
            precondition(claimsJSON.withUnsafeBytes { ClaimsParsingBaseline.parse($0) })

            let primitive: String?
            let source: String
            switch algorithm {
            case .hs256:
                primitive = nil
                source = "EVP_MAC HMAC-SHA256 loop over the same \(input.count) bytes"
            case .rs256, .ps256:
                primitive = "rsa2048"
                source = "openssl speed -seconds \(opensslSeconds) rsa2048, verify/s"
            case .es256:
                primitive = "ecdsap256"
                source = "openssl speed -seconds \(opensslSeconds) ecdsap256, verify/s"
            default:
                primitive = "ed25519"
                source = "openssl speed -seconds \(opensslSeconds) ed25519, verify/s"
            }
            if !json { print("\(algorithm.rawValue): \(runs) runs of \(seconds) s, each next to \(primitive.map { "openssl speed \($0)" } ?? "the HMAC loop") …") }

            _ = Self.measure(seconds: min(0.3, seconds)) { _ = try? verifier.verify(token, now: now) }  // warm-up
            var figures: [Double] = []
            var signatureFigures: [Double] = []
            var parseFigures: [Double] = []
            var ceilings: [Double] = []
            var ratios: [Double] = []
            for _ in 0..<runs {
                let ceiling: Double?
                if let primitive {
                    ceiling = Self.opensslSpeed(openssl, primitive, seconds: opensslSeconds)
                } else {
                    ceiling = Self.hmacCeiling(secret: signer.secret!, input: input, seconds: seconds)
                }
                let figure = Self.measure(seconds: seconds) { _ = try? verifier.verify(token, now: now) }
                // The signature layer alone (copy of the key's template context, digest, verify),
                // to show how much of the gap to OpenSSL is the rest of the path.
                signatureFigures.append(Self.measure(seconds: seconds / 2) { _ = key.verifySignature(signature, over: input, algorithm: algorithm) })
                parseFigures.append(claimsJSON.withUnsafeBytes { claims in
                    Self.measure(seconds: seconds / 2) { _ = ClaimsParsingBaseline.parse(claims) }
                })
                figures.append(figure)
                if let ceiling {
                    ceilings.append(ceiling)
                    ratios.append(figure / ceiling)
                }
            }
            let median = Self.median(figures)
            let ratio = ratios.isEmpty ? nil : Self.median(ratios)
            let signatureOnly = Self.median(signatureFigures)
            let claimsParse = Self.median(parseFigures)
            let reachable = ceilings.isEmpty ? nil : (1 / (1 / signatureOnly + 1 / claimsParse)) / Self.median(ceilings)
            let met: Bool? = algorithm == .hs256 ? median >= 150_000 : ratio.map { $0 >= 0.85 }
            rows.append(Row(algorithm: algorithm.rawValue, verificationsPerSecond: median, runs: figures,
                            signatureOnlyPerSecond: signatureOnly, claimsParsePerSecond: claimsParse, reachableRatio: reachable,
                            opensslCeiling: ceilings.isEmpty ? nil : Self.median(ceilings), ceilingSource: source,
                            ratio: ratio, target: algorithm == .hs256 ? "≥ 150000/s" : "≥ 85% of ceiling", met: met))
        }

        let report = Report(tokenBytes: tokenBytes, claimsBytes: claimsBytes, secondsPerRun: seconds, runs: runs,
                            opensslVersion: version, rows: rows)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            Self.printTable(report)
        }
    }

    /// ~300 bytes of claims, shaped like an identity provider's access token.
    static func claims(now: Double) -> [String: JSONValue] {
        let issued = Int64(now) - 60
        return [
            "iss": "https://auth.example.com",
            "sub": "user-7f3c9a2e-41d8-4b6e",
            "aud": "chat",
            "exp": .integer(issued + 3600),
            "iat": .integer(issued),
            "jti": "b6f1e0d2-93a4-4c7b-8e55",
            "scope": "chat.read chat.write",
            "roles": ["member", "moderator"],
            "org": ["id": "org-4711", "tier": "enterprise"],
            "email": "alice@example.com",
            "name": "Alice Example",
        ]
    }

    /// Calls `body` repeatedly for about `seconds` of this thread's CPU time; returns calls per
    /// CPU second. CPU time, like `openssl speed` (which counts user time unless `-elapsed`), so
    /// other processes on a shared machine do not skew one side of the ratio.
    static func measure(seconds: Double, _ body: () -> Void) -> Double {
        let budget = UInt64(seconds * 1e9)
        let start = nanoseconds()
        var count = 0
        var elapsed: UInt64 = 0
        repeat {
            for _ in 0..<32 { body() }
            count += 32
            elapsed = nanoseconds() - start
        } while elapsed < budget
        return Double(count) / (Double(elapsed) / 1e9)
    }

    /// OpenSSL's HMAC computations per second in a tight loop.
    static func hmacCeiling(secret: [UInt8], input: [UInt8], seconds: Double) -> Double {
        // Calibrate the iteration count, then time one loop of about `seconds`.
        var iterations = 1000
        while true {
            guard let ns = OpenSSLBaseline.hmac(.hs256, secret: secret, over: input, iterations: iterations, clock: Self.nanoseconds) else { return 0 }
            if Double(ns) >= seconds * 1e9 * 0.9 || iterations > 1 << 28 { return Double(iterations) / (Double(ns) / 1e9) }
            iterations = Int(Double(iterations) * min(16, max(2, seconds * 1e9 / Double(max(ns, 1)))))
        }
    }

    /// This thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
    static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The median (the mean of the middle two for an even count).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Runs `openssl speed -seconds N <primitive>` and reads its verify/s column (the last
    /// figure of the result line: "rsa 2048 bits …", "… ecdsa (nistp256) …", "… EdDSA (Ed25519) …").
    static func opensslSpeed(_ openssl: String, _ primitive: String, seconds: Int) -> Double? {
        guard let output = run(openssl, ["speed", "-seconds", String(seconds), primitive]) else { return nil }
        let marker: String
        switch primitive {
        case "rsa2048": marker = "rsa 2048 bits"
        case "ecdsap256": marker = "ecdsa (nistp256)"
        default: marker = "EdDSA (Ed25519)"
        }
        for line in output.split(separator: "\n") where line.contains(marker) {
            if let verify = line.split(separator: " ").compactMap({ Double($0) }).last { return verify }
        }
        return nil
    }

    /// Runs a command found on PATH; its stdout, or nil.
    ///
    /// Spawned with posix_spawn and an explicitly empty signal mask and default dispositions:
    /// `openssl speed -seconds` ends each test on SIGALRM, and a child started from a Swift
    /// process can inherit a mask that blocks it (Foundation's Process does not reset it), which
    /// makes `openssl speed` run forever.
    static func run(_ command: String, _ arguments: [String]) -> String? {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("wsgate-bench-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).out").path
        defer { unlink(outputPath) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGALRM, SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

        let argv = (["/usr/bin/env", command] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid = pid_t()
        guard posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, environ) == 0 else { return nil }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0, let data = FileManager.default.contents(atPath: outputPath) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The human table: figures right-aligned, words left-aligned.
    static func printTable(_ report: Report) {
        print("")
        print("token \(report.tokenBytes) bytes (claims \(report.claimsBytes) bytes); one thread; median of \(report.runs) × \(report.secondsPerRun) CPU-s; per-second figures in CPU time on both sides")
        if let version = report.opensslVersion { print(version) }
        let header = ["alg", "wsgate verify/s", "signature only/s", "claims JSON only/s", "OpenSSL ceiling/s", "ratio", "reachable", "target", "met", "ceiling source"]
        var lines = [header]
        for row in report.rows {
            lines.append([
                row.algorithm,
                String(Int(row.verificationsPerSecond.rounded())),
                String(Int(row.signatureOnlyPerSecond.rounded())),
                String(Int(row.claimsParsePerSecond.rounded())),
                row.opensslCeiling.map { String(Int($0.rounded())) } ?? "n/a",
                row.ratio.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a",
                row.reachableRatio.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a",
                row.target,
                row.met.map { $0 ? "yes" : "NO" } ?? "?",
                row.ceilingSource,
            ])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for line in lines { for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) } }
        for (n, line) in lines.enumerated() {
            print(line.enumerated().map { i, cell in
                i == 0 || i >= 7 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  "))
            if n == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        print("reachable: the ratio any full path could reach with this signature step and jansson parsing the claims,")
        print("if everything else (split, base64url, header, claim checks) cost nothing: 1/(1/signature + 1/claims JSON) ÷ ceiling")
    }
}
