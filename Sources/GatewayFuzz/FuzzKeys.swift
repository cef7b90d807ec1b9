import GatewayAuth

/// The harness's own signing keys: fixed, so a committed corpus file verifies the same way in
/// every run (the ES256 pair is the one in Tests/GatewayAuthTests/Fixtures).
enum FuzzKeys {
    /// The HS256 secret (32 bytes, RFC 7518 §3.2's minimum). Never printed by a check.
    static let secret = Array("wsgate-fuzz-hs256-secret-0123456".utf8)
    /// The environment a fuzzed config sees: the secret under `WSGATE_FUZZ_SECRET`.
    static let environment = ["WSGATE_FUZZ_SECRET": String(decoding: secret, as: UTF8.self)]
    /// The verification time: 2027-01-15T08:00:00Z.
    static let now = 1_800_000_000.0

    /// ES256 private key (PKCS#8).
    static let ecPrivatePEM = Array("""
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtS1/KGJ5Qi1SQftY
        LJfF+N73LnDLvyYnatNq0r183OihRANCAATVJlL/f+bv5B/BXkAP1LwLCzTm39k9
        P+6/Vp5Wax8J+Maz0lBb7zmUinEJWEoRvojqX41p7OISFTLidH+naQ3M
        -----END PRIVATE KEY-----

        """.utf8)
    /// The matching public key (SubjectPublicKeyInfo).
    static let ecPublicPEM = Array("""
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1SZS/3/m7+QfwV5AD9S8Cws05t/Z
        PT/uv1aeVmsfCfjGs9JQW+85lIpxCVhKEb6I6l+NaeziEhUy4nR/p2kNzA==
        -----END PUBLIC KEY-----

        """.utf8)
}
