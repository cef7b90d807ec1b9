import GatewayAuth
import GatewayText

/// Revocation ids: 32 lowercase hex digits from OpenSSL's DRBG.
enum RevocationID {
    /// A fresh id.
    static func make() -> String {
        HexText.lowercase(secureRandomBytes(16))
    }

    /// Whether `text` has the form of an id.
    static func isValid(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
