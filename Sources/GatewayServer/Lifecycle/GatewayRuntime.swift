import Atomics
import Foundation
import GatewayAuth
import GatewayHandshake
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The long-lived, shared parts of a running gateway that every connection reaches: the current
/// snapshot, the rejection log, counters, admission state and the logger. One per `Gateway`.
final class GatewayRuntime: Sendable {
    let logger: Logger
    let rejectionLog: RejectionLog
    let metrics: GatewayMetrics
    private let current: NIOLockedValueBox<GatewaySnapshot>
    let admission: Admission
    let registry = SessionRegistry()
    /// The revocations in force (SESSIONS.md).
    let revocations: RevocationStore
    /// This instance's name in session listings (`cluster.instance`, else host and first port).
    let instance: NIOLockedValueBox<String>
    /// The link to the cluster's PostgreSQL (`cluster:`); nil for a single instance.
    let cluster: ClusterBus?

    /// The dashboard's per-route counters (outlive snapshots) and their last 15 minutes.
    let traffic: TrafficCounters
    let trafficSeries = TrafficSeries()
    /// The state of each remote key set, by URL, for the dashboard.
    let keySetStatus = NIOLockedValueBox<[String: RemoteKeySetStatus]>([:])
    /// When this gateway started (unix seconds).
    let startedAt: Double
    /// Each event loop's verified-token cache (`auth.token_cache_size` at start), by loop: a
    /// handshake uses its own loop's, without a lock. Empty when the cache is off.
    let tokenCaches: [ObjectIdentifier: NIOLoopBoundBox<VerifiedTokenCache>]
    /// Each cache's capacity, as it applies (a reload does not change it; 0: off).
    let tokenCacheSize: Int

    /// Open client connections (handshaking or relaying).
    let clientConnections = ManagedAtomic<Int>(0)
    /// Open upstream connections.
    let upstreamConnections = ManagedAtomic<Int>(0)
    /// Set once a drain has begun: new handshakes are refused.
    let draining = ManagedAtomic<Bool>(false)
    /// Set on SIGTERM, before `draining` by `drain_delay`: `/readyz` answers 503 while new
    /// connections are still served, so a balancer can stop sending before anyone is refused.
    let unready = ManagedAtomic<Bool>(false)
    /// Tasks waiting for the gateway to have no connection left, by waiter id.
    private let idleWaiters = NIOLockedValueBox<[Int: CheckedContinuation<Void, Never>]>([:])
    private let nextIdleWaiter = ManagedAtomic<Int>(0)

    init(
        snapshot: GatewaySnapshot, logger: Logger, rejectionLog: RejectionLog, metrics: GatewayMetrics,
        traffic: TrafficCounters = TrafficCounters(), cluster: ClusterBus? = nil, loops: [any EventLoop] = []
    ) {
        self.traffic = traffic
        let cacheSize = snapshot.configuration.auth.tokenCacheSize
        self.tokenCacheSize = loops.isEmpty ? 0 : cacheSize
        self.tokenCaches = cacheSize == 0 ? [:] : Dictionary(uniqueKeysWithValues: loops.map { loop in
            (ObjectIdentifier(loop), NIOLoopBoundBox.makeBoxSendingValue(VerifiedTokenCache(capacity: cacheSize), eventLoop: loop))
        })
        self.startedAt = Date().timeIntervalSince1970
        self.cluster = cluster
        // With a cluster the event table is the truth: state_dir is not read or written.
        let clustered = snapshot.configuration.cluster != nil
        self.revocations = RevocationStore(
            directory: clustered ? nil : snapshot.configuration.stateDirectory, logger: logger, now: Date().timeIntervalSince1970
        )
        self.instance = NIOLockedValueBox(snapshot.configuration.cluster?.instance ?? ProcessInfo.processInfo.hostName)
        self.logger = logger
        self.rejectionLog = rejectionLog
        self.metrics = metrics
        self.current = NIOLockedValueBox(snapshot)
        self.admission = Admission()
    }

    /// No client, upstream or relayed connection is open.
    var isIdle: Bool {
        clientConnections.load(ordering: .acquiring) == 0 && upstreamConnections.load(ordering: .acquiring) == 0
            && registry.count == 0
    }

    /// Called after a client or upstream connection closed or a relay session ended: wakes the
    /// tasks waiting for idleness once nothing is left.
    func connectionEnded() {
        guard isIdle else { return }
        let ready = idleWaiters.withLockedValue { waiters -> [CheckedContinuation<Void, Never>] in
            defer { waiters = [:] }
            return Array(waiters.values)
        }
        for waiter in ready { waiter.resume() }
    }

    /// Returns once no connection is open (at once if none is), or when the task is cancelled.
    /// Waiters register under the same lock the waker empties after its check, so no wake-up is
    /// lost between a waiter's check and its registration.
    func waitUntilIdle() async {
        let id = nextIdleWaiter.wrappingIncrementThenLoad(ordering: .relaxed)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = idleWaiters.withLockedValue { waiters -> Bool in
                    if Task.isCancelled || isIdle { return true }
                    waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            idleWaiters.withLockedValue { $0.removeValue(forKey: id) }?.resume()
        }
    }

    /// The snapshot new connections use.
    var snapshot: GatewaySnapshot {
        current.withLockedValue { $0 }
    }

    /// Replaces the snapshot with one derived from the current one, atomically (a reload and a
    /// key refresh cannot lose each other's change).
    func updateSnapshot(_ derive: (GatewaySnapshot) -> GatewaySnapshot) {
        current.withLockedValue { $0 = derive($0) }
    }

    /// Told the `kid` of tokens refused as `unknown_key`.
    let unknownKeyObserver = NIOLockedValueBox<(@Sendable (String) -> Void)?>(nil)

    /// Seconds since the epoch (the verifier's clock).
    var now: Double { Date().timeIntervalSince1970 }

    /// Writes the one rejection response, the one log line and the one metric increment.
    func reject(
        _ rejection: Rejection, context: RejectionContext, channel: Channel,
        handlerContext: ChannelHandlerContext, routeMetrics: RouteMetrics, status overrideStatus: HTTPResponseStatus? = nil
    ) {
        let status = overrideStatus ?? rejection.status
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Cache-Control", value: "no-store")
        if let id = context.requestID { headers.add(name: "X-Request-Id", value: id) }
        switch rejection {
        case .tokenMissing:
            // RFC 6750 §3.1: no error code when the request carried no credentials.
            headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"wsgate\"")
        case _ where rejection.isInvalidToken:
            headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"\(rejection.reason)\"")
        case .claimForbidden:
            headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"wsgate\", error=\"insufficient_scope\"")
        case .unsupportedVersion:
            headers.add(name: "Sec-WebSocket-Version", value: "13")
        case .methodNotAllowed:
            headers.add(name: "Allow", value: "GET")
        case .rateLimited:
            headers.add(name: "Retry-After", value: "1")
        default:
            break
        }
        let body = "{\"status\":\(status.code),\"reason\":\"\(rejection.reason)\"}"
        let bytes = HTTPWire.response(status: status, headers: headers, body: body, allocator: channel.allocator)
        handlerContext.writeAndFlush(NIOAny(bytes)).whenComplete { _ in
            channel.close(promise: nil)
        }
        rejectionLog.record(RejectionRecord(rejection: rejection, status: Int(status.code), context: context, at: Date()))
        if rejection == .unknownKey, let kid = context.kid, let observer = unknownKeyObserver.withLockedValue({ $0 }) {
            observer(kid)
        }
        routeMetrics.rejected(rejection)
    }
}

/// Admission control: connection caps and the per-IP handshake rate.
final class Admission: Sendable {
    private struct Window {
        var second: Int64
        var count: Int
    }

    private let perRoute = SlotCounter()
    private let perIP = NIOLockedValueBox<[String: Window]>([:])
    private let perSubject = SlotCounter()

    /// Takes a per-route slot, or returns false when the route is full.
    func acquireRoute(_ route: String, cap: Int?) -> Bool {
        perRoute.acquire(route, cap: cap)
    }

    /// Returns a per-route slot.
    func releaseRoute(_ route: String) {
        perRoute.release(route)
    }

    /// Counts one handshake from `ip` in the current second; false when over `limit`.
    func allowHandshake(from ip: String, limit: Int?, now: Double) -> Bool {
        guard let limit else { return true }
        let second = Int64(now)
        return perIP.withLockedValue { windows in
            if windows.count > 100_000 { windows = windows.filter { $0.value.second == second } }
            var window = windows[ip] ?? Window(second: second, count: 0)
            if window.second != second { window = Window(second: second, count: 0) }
            window.count += 1
            windows[ip] = window
            return window.count <= limit
        }
    }

    /// Takes a per-subject slot, or returns false when the subject is at its cap.
    func acquireSubject(_ subject: String, cap: Int) -> Bool {
        perSubject.acquire(subject, cap: cap)
    }

    /// Returns a per-subject slot.
    func releaseSubject(_ subject: String) {
        perSubject.release(subject)
    }
}

/// Open-connection counts by key (route, subject), each under an optional cap.
final class SlotCounter: Sendable {
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    /// Takes a slot for `key`, or returns false when `cap` slots are taken.
    func acquire(_ key: String, cap: Int?) -> Bool {
        counts.withLockedValue { counts in
            let current = counts[key, default: 0]
            if let cap, current >= cap { return false }
            counts[key] = current + 1
            return true
        }
    }

    /// Returns a slot for `key`.
    func release(_ key: String) {
        counts.withLockedValue { counts in
            let next = counts[key, default: 1] - 1
            counts[key] = next > 0 ? next : nil
        }
    }
}
