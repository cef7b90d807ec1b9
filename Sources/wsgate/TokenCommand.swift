import ArgumentParser
import Foundation
import GatewayAuth
import GatewayConfig

/// `wsgate token`: mints a signed development token and prints just the token.
///
/// `--claim` values are JSON when they parse as JSON (`42`, `true`, `["a","b"]`, `{"id":1}`) and
/// strings otherwise; dotted names build nested objects (`--claim org.id=7`).
struct TokenCommand: AsyncParsableCommand {
    /// Command name and help.
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint a signed development token.",
        discussion: """
            Examples:
              wsgate token --alg HS256 --secret-env WSGATE_DEMO_SECRET --kid demo --sub alice
              wsgate token --alg RS256 --key rsa.key --kid rsa-2026 --sub bob --aud chat --claim role=admin --claim org.id=7
              wsgate token --alg HS256 --secret-file hs.key --ttl=-5m        # already expired
            """
    )

    /// The signing algorithm.
    @Option(name: .long, help: ArgumentHelp("Signing algorithm: \(JWTAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "alg"))
    var alg: String

    /// A PEM private key file (RS*, PS*, ES*, EdDSA).
    @Option(name: .long, help: ArgumentHelp("PEM private key (PKCS#8 or traditional) for RS*, PS*, ES*, EdDSA.", valueName: "pemfile"))
    var key: String?

    /// A file holding an HMAC secret.
    @Option(name: .customLong("secret-file"), help: ArgumentHelp("File holding the HMAC secret (a trailing newline is ignored).", valueName: "file"))
    var secretFile: String?

    /// An environment variable holding an HMAC secret.
    @Option(name: .customLong("secret-env"), help: ArgumentHelp("Environment variable holding the HMAC secret.", valueName: "var"))
    var secretEnv: String?

    /// The header's `kid`.
    @Option(name: .long, help: ArgumentHelp("Key id for the header.", valueName: "kid"))
    var kid: String?

    /// The `sub` claim.
    @Option(name: .long, help: ArgumentHelp("Subject (sub).", valueName: "sub"))
    var sub: String?

    /// The `iss` claim.
    @Option(name: .long, help: ArgumentHelp("Issuer (iss).", valueName: "iss"))
    var iss: String?

    /// The `aud` claim: one value is a string, several an array.
    @Option(name: .long, help: ArgumentHelp("Audience (aud); repeat for several.", valueName: "aud"))
    var aud: [String] = []

    /// Further claims.
    @Option(name: .long, help: ArgumentHelp("A claim NAME=VALUE; VALUE is JSON when it parses, else a string; org.id=7 nests. Repeatable.", valueName: "k=v"))
    var claim: [String] = []

    /// Lifetime from now; `none` leaves out `exp`.
    @Option(name: .long, help: ArgumentHelp("Lifetime: 30s, 15m, 1h, … (negative, e.g. --ttl=-5m, for an expired token; none for no exp).", valueName: "duration"))
    var ttl: String = "1h"

    /// `nbf` relative to now.
    @Option(name: .long, help: ArgumentHelp("Not-before relative to now: 0, 10m, -30s (default: no nbf).", valueName: "offset"))
    var nbf: String?

    /// The issue time.
    @Option(name: .long, help: ArgumentHelp("Issue at this time (seconds since the epoch) instead of now.", valueName: "unixtime"))
    var now: Int64?

    /// Checks option combinations before anything is read.
    func validate() throws {
        guard let algorithm = JWTAlgorithm(rawValue: alg) else {
            throw ValidationError("unknown --alg \(alg); use one of \(JWTAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let sources = [key, secretFile, secretEnv].compactMap { $0 }
        guard sources.count == 1 else {
            throw ValidationError("give exactly one of --key, --secret-file, --secret-env")
        }
        let hmac = [.hs256, .hs384, .hs512].contains(algorithm)
        if hmac && key != nil { throw ValidationError("\(alg) signs with a shared secret: use --secret-file or --secret-env") }
        if !hmac && key == nil { throw ValidationError("\(alg) signs with a private key: use --key PEMFILE") }
        if ttl != "none", ConfigDuration(ttl) == nil { throw ValidationError("--ttl \(ttl) is not a duration such as 30s, 15m or 1h") }
        if let nbf, ConfigDuration(nbf) == nil { throw ValidationError("--nbf \(nbf) is not a duration such as 0, 10m or -30s") }
        _ = try claims(now: 0)
    }

    /// Signs and prints the token.
    func run() async throws {
        let algorithm = JWTAlgorithm(rawValue: alg)!
        let signer: TokenSigner
        do throws(KeyError) {
            if let key {
                signer = try TokenSigner.privateKey(algorithm, pem: KeyMaterialReader.contents(ofFile: key), kid: kid)
            } else if let secretFile {
                signer = try TokenSigner.hmac(algorithm, secret: KeyMaterialReader.secret(fromFile: secretFile), kid: kid)
            } else {
                signer = try TokenSigner.hmac(algorithm, secret: KeyMaterialReader.secret(fromEnvironment: secretEnv!), kid: kid)
            }
        } catch {
            throw Self.failure(error.description)
        }
        let claims = try claims(now: now ?? Int64(Date().timeIntervalSince1970))
        do throws(KeyError) {
            print(try signer.sign(claims: claims))
        } catch {
            throw Self.failure(error.description)
        }
    }

    /// Reports a failure that is not a usage mistake (an unreadable key, a refused secret) and
    /// returns the exit code to throw, so no usage text follows it.
    private static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return .failure
    }

    /// The claims set: registered claims from the options, then `--claim`s (which may override them).
    private func claims(now: Int64) throws(ValidationError) -> [String: JSONValue] {
        var claims: [String: JSONValue] = ["iat": .integer(now)]
        if ttl != "none", let ttl = ConfigDuration(ttl) { claims["exp"] = .integer(now + ttl.nanoseconds / 1_000_000_000) }
        if let nbf, let offset = ConfigDuration(nbf) { claims["nbf"] = .integer(now + offset.nanoseconds / 1_000_000_000) }
        if let sub { claims["sub"] = .string(sub) }
        if let iss { claims["iss"] = .string(iss) }
        if aud.count == 1 { claims["aud"] = .string(aud[0]) } else if !aud.isEmpty { claims["aud"] = .array(aud.map(JSONValue.string)) }
        for spelling in claim {
            guard let equals = spelling.firstIndex(of: "="), equals != spelling.startIndex else {
                throw ValidationError("--claim \(spelling) is not NAME=VALUE")
            }
            let path = spelling[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: \.isEmpty) else { throw ValidationError("--claim \(spelling): empty name segment") }
            let value = Self.value(String(spelling[spelling.index(after: equals)...]))
            guard Self.insert(value, at: path[...], into: &claims) else {
                throw ValidationError("--claim \(spelling) conflicts with an earlier claim that is not an object")
            }
        }
        return claims
    }

    /// JSON when the text parses as JSON, else the text as a string.
    static func value(_ text: String) -> JSONValue {
        guard let data = text.data(using: .utf8),
              let decoded = try? JSONDecoder().decode(DecodedJSON.self, from: data) else { return .string(text) }
        return decoded.value
    }

    /// Sets `value` at a dotted path, creating objects on the way; false when a non-object is in the way.
    static func insert(_ value: JSONValue, at path: ArraySlice<String>, into object: inout [String: JSONValue]) -> Bool {
        guard let first = path.first else { return false }
        if path.count == 1 {
            object[first] = value
            return true
        }
        var child: [String: JSONValue]
        switch object[first] {
        case nil: child = [:]
        case .object(let existing)?: child = existing
        default: return false
        }
        guard insert(value, at: path.dropFirst(), into: &child) else { return false }
        object[first] = .object(child)
        return true
    }
}

/// A JSON document decoded into a `JSONValue`, keeping integers apart from decimals.
private struct DecodedJSON: Decodable {
    /// The value.
    var value: JSONValue

    init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(DecodedJSON.self).value) }
            value = .array(items)
        } else if let object = try? decoder.container(keyedBy: Key.self) {
            var members: [String: JSONValue] = [:]
            for key in object.allKeys { members[key.stringValue] = try object.decode(DecodedJSON.self, forKey: key).value }
            value = .object(members)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                value = .null
            } else if let bool = try? single.decode(Bool.self) {
                value = .bool(bool)
            } else if let integer = try? single.decode(Int64.self) {
                value = .integer(integer)
            } else if let number = try? single.decode(Double.self) {
                value = .number(number)
            } else {
                value = .string(try single.decode(String.self))
            }
        }
    }

    /// Any object key.
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
