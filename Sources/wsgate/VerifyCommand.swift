import ArgumentParser
import Foundation
import GatewayAuth
import GatewayConfig
import GatewayHandshake
import GatewayServer
import Logging

/// `wsgate verify --config FILE [--route PATH] [--now UNIXTIME] TOKEN`: verifies one token exactly
/// as the gateway would, with the config's keys and auth settings and, with `--route`, the route's
/// required claims and scopes.
///
/// The operator's tool for "why was this user rejected?". Prints the verified claims as JSON and
/// exits 0, or the reason code, its HTTP status and an explanation, and exits 1. The token itself
/// is never printed; its `token_fp` is, to match rejection log lines.
struct VerifyCommand: AsyncParsableCommand {
    /// Command name and help.
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify one token as the gateway would.",
        discussion: """
            Prints the verified claims as JSON on standard output and exits 0; or prints the reason \
            code (token_expired, signature_invalid, route_not_found, …) with an explanation and \
            exits 1. A config that does not load exits 2 with its problems.
            """
    )

    /// The YAML config file.
    @Option(name: .long, help: ArgumentHelp("The YAML config file.", valueName: "file"))
    var config: String

    /// A request path whose route's requirements also apply.
    @Option(name: .long, help: ArgumentHelp("Also apply the requirements of the route serving this request path.", valueName: "path"))
    var route: String?

    /// The verification time, for reproducing a past rejection.
    @Option(name: .long, help: ArgumentHelp("Verify as of this time (seconds since the epoch) instead of now.", valueName: "unixtime"))
    var now: Double?

    /// The token, or `-` for standard input.
    @Argument(help: ArgumentHelp("The token (a leading \"Bearer \" is ignored), or - to read it from standard input.", valueName: "token"))
    var token: String

    /// Verifies and reports.
    func run() async throws {
        let configuration: GatewayConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: config)
        } catch {
            for problem in error.problems { Self.printToStandardError(problem.description) }
            Self.printToStandardError("\(config): \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"); nothing verified")
            throw ExitCode(2)
        }
        let token = try readToken()
        let fingerprint = tokenFingerprint(token)

        var matched: RouteConfiguration?
        if let route {
            var path = route.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
            // The gateway matches the normalised path (or refuses the request); so does this.
            if path.first == "/" {
                switch RequestPathNormalizer.normalize(path) {
                case .normalized(let normal): path = normal
                case .refused(let why):
                    print("bad_path (400): \(why)")
                    throw ExitCode.failure
                }
            }
            guard let found = RouteTable(routes: configuration.routes).match(path: path) else {
                print("route_not_found (404): no route matches \(path)")
                print("routes: \(configuration.routes.map(\.pattern.description).joined(separator: ", "))")
                throw ExitCode.failure
            }
            if found.auth == .none {
                Self.printToStandardError("note: route \(found.pattern) has auth: none; the gateway does not look at tokens there")
            }
            matched = found
        }

        // The gateway's key set: configured keys plus the remote JWKS documents it would fetch.
        let remote: [String: [VerificationKey]]
        do {
            remote = try await JWKSRefresher.fetchInitial(configuration.remoteKeySets, logger: Logger(label: "wsgate-verify"))
        } catch {
            Self.printToStandardError("keys: \(error)")
            throw ExitCode(2)
        }
        let verifier = GatewaySnapshot(configuration: configuration, remoteKeys: remote).verifier
        let verified: VerifiedToken
        let at = now ?? Date().timeIntervalSince1970
        do throws(TokenError) {
            verified = try verifier.verify(token, now: at)
        } catch {
            report(error, fingerprint: fingerprint, settings: configuration.auth)
            throw ExitCode.failure
        }
        // The revocations a single instance saved in its state_dir, checked where the gateway does.
        if let directory = configuration.stateDirectory {
            let saved = RevocationSet.saved(inDirectory: directory, now: at)
            for problem in saved.problems { Self.printToStandardError("revocation state: \(problem)") }
            if let revocation = saved.set.match(verified, tokenDigest: tokenDigest(token), now: at) {
                print("token_revoked (401): revoked by \(revocation.kind.rawValue) revocation \(revocation.id) until \(Int64(revocation.until)): \(revocation.reason)")
                print("why: an operator revoked this token (wsgate revocations lists them; --lift ID lifts one)")
                if let subject = verified.subject { print("sub: \(subject)") }
                print("token_fp: \(fingerprint)")
                throw ExitCode.failure
            }
        }
        do throws(TokenError) {
            if let matched { try verified.check(matched.requirements) }
        } catch {
            report(error, fingerprint: fingerprint, settings: configuration.auth)
            throw ExitCode.failure
        }

        print(Self.prettyJSON(.object(verified.claims)))
        var summary = "ok: \(verified.algorithm.rawValue)"
        if let kid = verified.kid { summary += ", kid \(kid)" }
        if let matched { summary += ", route \(matched.pattern)" }
        summary += ", token_fp \(fingerprint)"
        Self.printToStandardError(summary)
    }

    /// The token from the argument or standard input, without surrounding whitespace or `Bearer `.
    private func readToken() throws -> String {
        var text = token
        if token == "-" {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            text = String(decoding: data, as: UTF8.self)
        }
        var trimmed = Substring(text).drop { $0.isWhitespace }
        while trimmed.last?.isWhitespace == true { trimmed = trimmed.dropLast() }
        if trimmed.lowercased().hasPrefix("bearer ") { trimmed = trimmed.dropFirst(7).drop { $0 == " " } }
        guard !trimmed.isEmpty else {
            print("token_missing (401): no token given")
            throw ExitCode.failure
        }
        return String(trimmed)
    }

    /// Prints a refusal: reason and status, the verifier's detail, what it means, and what is known.
    private func report(_ error: TokenError, fingerprint: String, settings: AuthSettings) {
        let rejection = Rejection(error.reason)
        print("\(rejection.reason) (\(rejection.status.code)): \(error.detail)")
        print("why: \(Self.explanation(error.reason, settings: settings))")
        if let kid = error.kid { print("kid: \(kid)") }
        if let issuer = error.issuer { print("iss: \(issuer)") }
        if let subject = error.subject { print("sub: \(subject)") }
        print("token_fp: \(fingerprint)")
    }

    /// A sentence on what a reason code means and where to look.
    static func explanation(_ reason: TokenFailure, settings: AuthSettings) -> String {
        switch reason {
        case .malformed:
            "the token is not a compact JWS (three base64url parts, JSON header and claims) or is longer than auth.max_token_bytes (\(settings.maxTokenBytes))"
        case .algorithmNotAllowed:
            "the header's alg is none, unsupported, or not in the algorithms of the key it selects (keys[].algorithms)"
        case .unknownKey:
            "the header's kid matches no configured key (keys[].id or a JWKS kid), or no key accepts its alg"
        case .signatureInvalid:
            "the signature does not verify: the token was signed with another key, or altered"
        case .expired:
            "exp has passed by more than auth.leeway (\(settings.leewaySeconds) s); the client needs a fresh token"
        case .notYetValid:
            "nbf is still ahead by more than auth.leeway (\(settings.leewaySeconds) s); check the clocks"
        case .issuerMismatch:
            "iss is missing or not one of auth.issuers (\(settings.issuers.joined(separator: ", ")))"
        case .audienceMismatch:
            "aud is missing or names none of auth.audiences (\(settings.audiences.joined(separator: ", ")))"
        case .claimForbidden:
            "the token is valid, but the route's require_claims or require_scopes are not met"
        }
    }

    /// JSON with two-space indentation and sorted keys.
    static func prettyJSON(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .array(let items) where !items.isEmpty:
            return "[\n" + items.map { inner + prettyJSON($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let members) where !members.isEmpty:
            return "{\n" + members.keys.sorted().map { key in
                inner + JSONValue.string(key).jsonText + ": " + prettyJSON(members[key]!, indent: inner)
            }.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return value.jsonText
        }
    }

    /// Writes one line to standard error (kept in this file so the command builds on its own).
    private static func printToStandardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
