import Atomics
import GatewayHandshake
import NIOConcurrencyHelpers

/// Handshake, rejection and open-connection counts per route label, kept across reloads so the
/// dashboard's time series (`TrafficSeries`) does not restart when the snapshot is swapped.
///
/// The handshake path only does relaxed atomic increments on a `Route` it already holds (each
/// `RouteMetrics` keeps its route's object); nothing is counted per frame. Once a second one timer
/// calls `drain(second:)`, which exchanges every counter with zero and returns the second's sample.
final class TrafficCounters: Sendable {
    /// The counters of one route label (`-`: requests that matched no route).
    final class Route: Sendable {
        /// Handshakes answered with the backend's 101 since the last drain.
        let accepted = ManagedAtomic<Int>(0)
        /// Rejections since the last drain, indexed like `Rejection.allCases`.
        let rejected: [ManagedAtomic<Int>] = Rejection.allCases.map { _ in ManagedAtomic<Int>(0) }
        /// Relayed connections open now (a gauge, never drained).
        let open = ManagedAtomic<Int>(0)

        /// Creates zeroed counters.
        init() {}

        /// Counts one rejection.
        func reject(_ rejection: Rejection) {
            rejected[Rejection.index(of: rejection)].wrappingIncrement(ordering: .relaxed)
        }
    }

    private let routes = NIOLockedValueBox<[String: Route]>([:])

    /// Creates an empty set of counters.
    init() {}

    /// The counters of `label`, made on first use (when a snapshot naming the route is built, not
    /// per handshake).
    func route(_ label: String) -> Route {
        routes.withLockedValue { routes in
            if let existing = routes[label] { return existing }
            let made = Route()
            routes[label] = made
            return made
        }
    }

    /// Open relayed connections per route label, now.
    var openConnections: [String: Int] {
        routes.withLockedValue { $0 }.mapValues { $0.open.load(ordering: .relaxed) }
    }

    /// Takes the counts since the previous drain (each counter back to zero) as the sample of
    /// `second`. Routes with nothing to report are left out of the sample, so an idle gateway's
    /// samples are empty and the series' memory stays bounded by what actually happened.
    func drain(second: Int64) -> TrafficSample {
        let all = routes.withLockedValue { $0 }
        var sample = TrafficSample(second: second)
        for (label, route) in all {
            var counts = TrafficSample.RouteCounts()
            counts.accepted = route.accepted.exchange(0, ordering: .relaxed)
            for (index, counter) in route.rejected.enumerated() {
                let n = counter.exchange(0, ordering: .relaxed)
                if n > 0 { counts.rejected[Rejection.allCases[index].reason] = n }
            }
            if counts.accepted > 0 || !counts.rejected.isEmpty { sample.routes[label] = counts }
        }
        return sample
    }
}

extension Rejection {
    /// This case's position in `allCases` (a stable array index for per-reason counters).
    static func index(of rejection: Rejection) -> Int {
        indexByCase[rejection]!
    }

    private static let indexByCase: [Rejection: Int] = Dictionary(
        uniqueKeysWithValues: Rejection.allCases.enumerated().map { ($1, $0) }
    )
}
