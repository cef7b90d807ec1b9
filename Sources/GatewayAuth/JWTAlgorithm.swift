import COpenSSL

/// A JWS algorithm wsgate verifies (RFC 7518 §3.1). `none` is deliberately absent
/// (RFC 8725 §3.1: never accept unsecured tokens).
public enum JWTAlgorithm: String, Sendable, Hashable, CaseIterable, Codable {
    /// HMAC with SHA-2 (RFC 7518 §3.2).
    case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"
    /// RSASSA-PKCS1-v1_5 with SHA-2 (RFC 7518 §3.3).
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
    /// RSASSA-PSS with SHA-2, MGF1 on the same hash, salt as long as the hash (RFC 7518 §3.5).
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    /// ECDSA on P-256 with SHA-256, and on P-384 with SHA-384 (RFC 7518 §3.4).
    case es256 = "ES256", es384 = "ES384"
    /// EdDSA with Ed25519 (RFC 8037 §3.1).
    case edDSA = "EdDSA"

    /// The key family an algorithm belongs to; a key of one family never verifies another's
    /// algorithm (RFC 8725 §3.1, §2.1 "algorithm confusion").
    public enum Family: String, Sendable, Hashable, CaseIterable {
        /// HMAC with a shared secret (RFC 7518 §3.2).
        case hmac
        /// RSA, PKCS#1 v1.5 (RFC 7518 §3.3) or PSS (RFC 7518 §3.5).
        case rsa
        /// ECDSA on a NIST curve (RFC 7518 §3.4).
        case ec
        /// EdDSA with Ed25519 (RFC 8037 §3.1).
        case okp
    }

    /// The key family this algorithm needs.
    public var family: Family {
        switch self {
        case .hs256, .hs384, .hs512: return .hmac
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512: return .rsa
        case .es256, .es384: return .ec
        case .edDSA: return .okp
        }
    }

    /// The algorithms of one family, in declaration order.
    public static func all(in family: Family) -> [JWTAlgorithm] {
        allCases.filter { $0.family == family }
    }

    /// Parses an `alg` header value exactly (RFC 7515 §4.1.1: case-sensitive).
    public init?(name: String) { self.init(rawValue: name) }

    /// The digest size in bytes: the minimum HMAC secret (RFC 7518 §3.2), the PSS salt length
    /// (RFC 7518 §3.5), and half the ECDSA signature (RFC 7518 §3.4) for ES256.
    var hashLength: Int {
        switch self {
        case .hs256, .rs256, .ps256, .es256: return 32
        case .hs384, .rs384, .ps384, .es384: return 48
        case .hs512, .rs512, .ps512: return 64
        case .edDSA: return 64  // SHA-512 inside Ed25519; not used as a parameter
        }
    }

    /// The OpenSSL digest name; nil for EdDSA, which hashes internally (RFC 8032 §5.1).
    var digestName: String? {
        switch self {
        case .hs256, .rs256, .ps256, .es256: return "SHA256"
        case .hs384, .rs384, .ps384, .es384: return "SHA384"
        case .hs512, .rs512, .ps512: return "SHA512"
        case .edDSA: return nil
        }
    }

    /// The EVP_MD for this algorithm (a static, never freed), nil for EdDSA.
    var evpMD: OpaquePointer? {
        switch self {
        case .hs256, .rs256, .ps256, .es256: return EVP_sha256()
        case .hs384, .rs384, .ps384, .es384: return EVP_sha384()
        case .hs512, .rs512, .ps512: return EVP_sha512()
        case .edDSA: return nil
        }
    }

    /// Whether this is an RSASSA-PSS algorithm (RFC 7518 §3.5).
    var isPSS: Bool { self == .ps256 || self == .ps384 || self == .ps512 }

    /// The ECDSA curve (OpenSSL group name) and the byte length of R and S (RFC 7518 §3.4).
    var ecCurve: (group: String, coordinateLength: Int)? {
        switch self {
        case .es256: return ("prime256v1", 32)
        case .es384: return ("secp384r1", 48)
        default: return nil
        }
    }
}
