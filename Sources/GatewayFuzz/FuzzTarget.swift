/// The fuzz targets: each runs one input through one parser or decision and reports the first
/// invariant the result breaks. libFuzzer drives them in `wsgate-fuzz`; the corpus replay test
/// drives the same functions over the committed corpus in every `swift test`.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// HTTP request bytes → NIO's request decoder as the gateway sets it up → handshake decision.
    case requestHead = "request-head"
    /// A backend's response head (`HTTPWire.parseResponseHead`).
    case responseHead = "response-head"
    /// `FrameTracker`: whole vs chunked vs a reference walk of the frames.
    case frameTracker = "frame-tracker"
    /// PROXY protocol v1/v2 (`ProxyProtocolHeader.parse`), whole vs chunked.
    case proxyHeader = "proxy-header"
    /// `JWTVerifier`: raw tokens and re-signed JOSE mutations, each acceptance re-checked.
    case token = "token"
    /// JWKS documents (`VerificationKey.jwks`).
    case jwks = "jwks"
    /// The YAML configuration reader (`ConfigurationLoader.load(yaml:)`).
    case config = "config"

    /// Runs one input; nil when every invariant holds.
    public func check(_ input: [UInt8]) -> FuzzFailure? {
        switch self {
        case .requestHead: return RequestHeadCheck.shared.check(input)
        case .responseHead: return ResponseHeadCheck.check(input)
        case .frameTracker: return FrameTrackerCheck.check(input)
        case .proxyHeader: return ProxyHeaderCheck.check(input)
        case .token: return TokenCheck.shared.check(input)
        case .jwks: return JWKSCheck.check(input)
        case .config: return ConfigCheck.check(input)
        }
    }

    /// Whether the code under test accepts `input` (a forwarded handshake, a verified token, a
    /// parsed header, a loaded config; for frames: no size violation). The replay test uses it
    /// to keep the seeds honest: a seed meant to reach the deepest step must still reach it
    /// (an expired seed token would otherwise turn the token target into a test of `exp`).
    public func accepts(_ input: [UInt8]) -> Bool {
        switch self {
        case .requestHead: return RequestHeadCheck.shared.accepts(input)
        case .responseHead: return ResponseHeadCheck.accepts(input)
        case .frameTracker: return FrameTrackerCheck.accepts(input)
        case .proxyHeader: return ProxyHeaderCheck.accepts(input)
        case .token: return TokenCheck.shared.accepts(input)
        case .jwks: return JWKSCheck.accepts(input)
        case .config: return ConfigCheck.accepts(input)
        }
    }
}
