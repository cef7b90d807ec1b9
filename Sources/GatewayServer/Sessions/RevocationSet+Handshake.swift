import GatewayAuth

extension RevocationSet {
    /// The handshake pipeline's revocation check over this set at `now`: the description of the
    /// revocation that covers a verified token (by the token and its SHA-256 digest), or nil.
    /// The description is the rejection log's detail (`revoked by sub revocation <id>`).
    package func handshakeCheck(now: Double) -> (VerifiedToken, String) -> String? {
        { token, digest in
            guard !self.isEmpty, let match = self.match(token, tokenDigest: digest, now: now) else { return nil }
            return "revoked by \(match.kind.rawValue) revocation \(match.id)"
        }
    }
}
