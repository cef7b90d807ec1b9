import GatewayHandshake
import GatewayAuth
import Testing

@testable import GatewayServer

/// `Rejection` is the single source of reason codes and statuses; token failures map onto it.
@Suite struct RejectionTests {
    /// Every token failure, its reason code and status as PRODUCT.md's table spells them.
    @Test(arguments: [
        (TokenFailure.malformed, "token_malformed", 401),
        (.algorithmNotAllowed, "algorithm_not_allowed", 401),
        (.unknownKey, "unknown_key", 401),
        (.signatureInvalid, "signature_invalid", 401),
        (.expired, "token_expired", 401),
        (.notYetValid, "token_not_yet_valid", 401),
        (.issuerMismatch, "issuer_mismatch", 401),
        (.audienceMismatch, "audience_mismatch", 401),
        (.claimForbidden, "claim_forbidden", 403),
    ] as [(failure: TokenFailure, reason: String, status: Int)])
    func tokenFailure(_ row: (failure: TokenFailure, reason: String, status: Int)) {
        let (failure, reason, status) = row
        let rejection = Rejection(failure)
        #expect(rejection.reason == reason)
        #expect(Int(rejection.status.code) == status)
        // RFC 6750 §3.1: a presented token that fails is `invalid_token`; a forbidden claim is not.
        #expect(rejection.isInvalidToken == (status == 401))
    }

    /// The table above covers every failure, and no two failures share a rejection.
    @Test func everyTokenFailureHasItsOwnRejection() {
        #expect(TokenFailure.allCases.count == 9)
        #expect(Set(TokenFailure.allCases.map(Rejection.init)).count == TokenFailure.allCases.count)
    }

    /// Reason codes are distinct snake_case and read back to their rejection (the log reader's way).
    @Test func reasonCodesRoundTrip() {
        #expect(Set(Rejection.allCases.map(\.reason)).count == Rejection.allCases.count)
        for rejection in Rejection.allCases {
            #expect(rejection.reason.utf8.allSatisfy { (0x61...0x7A).contains($0) || $0 == UInt8(ascii: "_") }, "\(rejection)")
            #expect(Rejection(reason: rejection.reason) == rejection)
        }
        #expect(Rejection(reason: "tokenExpired") == nil)
        #expect(Rejection(reason: "") == nil)
    }
}
