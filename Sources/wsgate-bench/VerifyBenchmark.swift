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
        /// What OpenSSL alone does per second for the same primitive (nil when unavailable).
        var opensslCeiling: Double?
        /// Where the ceiling comes from.
        var ceilingSource: String
        /// verificationsPerSecond / opensslCeiling.
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
    func run() throws {
        let now = Date().timeIntervalSince1970
        let claims = Self.claims(now: now)
        let policy = VerificationPolicy(issuers: ["https://auth.example.com"], audiences: ["chat"], leewaySeconds: 30)
        let algorithms: [JWTAlgorithm] = [.hs256, .rs256, .ps256, .es256, .edDSA]

        // OpenSSL's ceiling first, while the machine is quiet.
        if !json { print("measuring OpenSSL ceiling: \(openssl) speed -seconds \(opensslSeconds) rsa2048 ecdsap256 ed25519 …") }
        let speedBefore = Self.opensslSpeed(openssl, seconds: opensslSeconds)

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

            var figures: [Double] = []
            _ = Self.measure(seconds: min(0.3, seconds)) { _ = try? verifier.verify(token, now: now) }  // warm-up
            for _ in 0..<runs {
                figures.append(Self.measure(seconds: seconds) { _ = try? verifier.verify(token, now: now) })
            }
            let median = Self.median(figures)

            // The signature layer alone (copy of the key's template context, digest, verify),
            // to show how much of the gap to OpenSSL is the rest of the path.
            let input = Array(token.utf8[..<token.utf8.lastIndex(of: UInt8(ascii: "."))!])
            let signature = Base64URL.decode(String(token.split(separator: ".")[2]))!
            var signatureFigures: [Double] = []
            for _ in 0..<runs {
                signatureFigures.append(Self.measure(seconds: seconds / 2) { _ = key.verifySignature(signature, over: input, algorithm: algorithm) })
            }
            let signatureOnly = Self.median(signatureFigures)

            var ceiling: Double?
            var source: String
            var target: String
            var met: Bool?
            switch algorithm {
            case .hs256:
                var hmacRuns: [Double] = []
                for _ in 0..<runs {
                    hmacRuns.append(Self.hmacCeiling(secret: signer.secret!, input: input, seconds: seconds))
                }
                ceiling = Self.median(hmacRuns)
                source = "EVP_MAC HMAC-SHA256 loop over the same \(input.count) bytes"
                target = "≥ 150000/s"
                met = median >= 150_000
            case .rs256, .ps256:
                source = "openssl speed rsa2048 verify/s (mean before/after)"
                target = "≥ 85% of ceiling"
            case .es256:
                source = "openssl speed ecdsap256 verify/s (mean before/after)"
                target = "≥ 85% of ceiling"
            default:
                source = "openssl speed ed25519 verify/s (mean before/after)"
                target = "≥ 85% of ceiling"
            }
            let ratio = ceiling.map { median / $0 }
            if algorithm != .hs256, let ratio { met = ratio >= 0.85 }
            rows.append(Row(algorithm: algorithm.rawValue, verificationsPerSecond: median, runs: figures, signatureOnlyPerSecond: signatureOnly,
                            opensslCeiling: ceiling, ceilingSource: source, ratio: ratio, target: target, met: met))
            if !json { print("  \(algorithm.rawValue): \(Int(median))/s") }
        }

        // And again afterwards: the ceiling is the mean of both, so a machine that got busier or
        // quieter during the run moves both sides of the ratio alike.
        if !json { print("measuring OpenSSL ceiling again …") }
        let speedAfter = Self.opensslSpeed(openssl, seconds: opensslSeconds)
        let speed = SpeedFigures.mean(speedBefore, speedAfter)
        for index in rows.indices where rows[index].algorithm != "HS256" {
            let ceiling: Double?
            switch rows[index].algorithm {
            case "RS256", "PS256": ceiling = speed.rsa2048
            case "ES256": ceiling = speed.ecdsaP256
            default: ceiling = speed.ed25519
            }
            rows[index].opensslCeiling = ceiling
            rows[index].ratio = ceiling.map { rows[index].verificationsPerSecond / $0 }
            rows[index].met = rows[index].ratio.map { $0 >= 0.85 }
        }

        let report = Report(tokenBytes: tokenBytes, claimsBytes: claimsBytes, secondsPerRun: seconds, runs: runs,
                            opensslVersion: speed.version, rows: rows)
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

    /// Calls `body` repeatedly for about `seconds`; returns calls per second.
    static func measure(seconds: Double, _ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        let budget = Duration.nanoseconds(Int64(seconds * 1e9))
        let start = clock.now
        var count = 0
        var elapsed = Duration.zero
        repeat {
            for _ in 0..<32 { body() }
            count += 32
            elapsed = clock.now - start
        } while elapsed < budget
        return Double(count) / Self.seconds(elapsed)
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

    /// CLOCK_MONOTONIC in nanoseconds, for the HMAC baseline loop.
    static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// A duration in seconds.
    static func seconds(_ duration: Duration) -> Double {
        let (s, attos) = duration.components
        return Double(s) + Double(attos) / 1e18
    }

    /// The median (the mean of the middle two for an even count).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// verify/s figures parsed from `openssl speed`.
    struct SpeedFigures {
        /// rsa2048 verify/s.
        var rsa2048: Double?
        /// ecdsap256 verify/s.
        var ecdsaP256: Double?
        /// ed25519 verify/s.
        var ed25519: Double?
        /// `openssl version`.
        var version: String?

        /// The mean of two measurements (either alone when the other is missing).
        static func mean(_ a: SpeedFigures, _ b: SpeedFigures) -> SpeedFigures {
            func mean(_ x: Double?, _ y: Double?) -> Double? {
                switch (x, y) {
                case let (x?, y?): return (x + y) / 2
                default: return x ?? y
                }
            }
            return SpeedFigures(rsa2048: mean(a.rsa2048, b.rsa2048), ecdsaP256: mean(a.ecdsaP256, b.ecdsaP256),
                                ed25519: mean(a.ed25519, b.ed25519), version: a.version ?? b.version)
        }
    }

    /// Runs `openssl speed -seconds N rsa2048 ecdsap256 ed25519` and reads the verify/s column.
    static func opensslSpeed(_ openssl: String, seconds: Int) -> SpeedFigures {
        var figures = SpeedFigures()
        figures.version = run(openssl, ["version"])?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let output = run(openssl, ["speed", "-seconds", String(seconds), "rsa2048", "ecdsap256", "ed25519"]) else { return figures }
        for line in output.split(separator: "\n") {
            let numbers = line.split(separator: " ").compactMap { Double($0) }
            guard let verify = numbers.last else { continue }
            if line.hasPrefix("rsa 2048 bits") || line.contains("rsa  2048 bits") { figures.rsa2048 = verify }
            if line.contains("ecdsa (nistp256)") { figures.ecdsaP256 = verify }
            if line.contains("EdDSA (Ed25519)") { figures.ed25519 = verify }
        }
        return figures
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
        print("token \(report.tokenBytes) bytes (claims \(report.claimsBytes) bytes); one thread; median of \(report.runs) × \(report.secondsPerRun) s")
        if let version = report.opensslVersion { print(version) }
        let header = ["alg", "wsgate verify/s", "signature only/s", "OpenSSL ceiling/s", "ratio", "target", "met", "ceiling source"]
        var lines = [header]
        for row in report.rows {
            lines.append([
                row.algorithm,
                String(Int(row.verificationsPerSecond.rounded())),
                String(Int(row.signatureOnlyPerSecond.rounded())),
                row.opensslCeiling.map { String(Int($0.rounded())) } ?? "n/a",
                row.ratio.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a",
                row.target,
                row.met.map { $0 ? "yes" : "NO" } ?? "?",
                row.ceilingSource,
            ])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for line in lines { for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) } }
        for (n, line) in lines.enumerated() {
            print(line.enumerated().map { i, cell in
                i == 0 || i >= 5 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  "))
            if n == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
    }
}
