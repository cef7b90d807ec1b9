import GatewayHandshake

/// What reading the log produces, in file order.
public enum RejectionLogEvent: Sendable, Equatable {
    /// One well-formed line.
    case record(RejectionRecord)
    /// A line (or file) that could not be read; it was skipped.
    case problem(RejectionLogProblem)
    /// Following only: every line present when following started has been delivered; what comes
    /// next was appended afterwards.
    case caughtUp
}
