import Foundation

/// Holds the running gateway and key refresher for `GatewayService`'s reload closure, which is
/// made before either exists.
final class ReloadTarget: @unchecked Sendable {
    // Safe: every access to the two stored references goes through `lock`.
    private let lock = NSLock()
    private var storedGateway: Gateway?
    private var storedRefresher: JWKSRefresher?
    /// The running gateway, once started.
    var gateway: Gateway? {
        get { lock.withLock { storedGateway } }
        set { lock.withLock { storedGateway = newValue } }
    }
    /// The remote key set refresher, once started.
    var refresher: JWKSRefresher? {
        get { lock.withLock { storedRefresher } }
        set { lock.withLock { storedRefresher = newValue } }
    }
}
