/// When a remote key set is fetched next: the pure timing rules of `JWKSRefresher`, apart from
/// sockets and clocks so they can be tested on their own.
///
/// - After a good fetch: `Cache-Control: max-age` clamped to [minimum, maximum], else
///   `refreshInterval` (RFC 9111 §5.2.2.1).
/// - After a failed fetch: the minimum interval, doubling with each further failure, never more
///   than `refreshInterval` (the last good keys keep serving meanwhile).
/// - An unknown `kid` asks for one early fetch, never sooner than `minimum` after the previous
///   fetch began: a flood of bogus kids costs at most one fetch per minimum interval.
struct JWKSRefreshSchedule: Sendable {
    /// The regular interval.
    let refreshInterval: Duration
    /// Lower bound on any interval, including early ones.
    let minimum: Duration
    /// Upper bound on `max-age`.
    let maximum: Duration
    /// When the previous fetch began.
    private(set) var lastFetch: ContinuousClock.Instant
    /// When the next fetch is due.
    private(set) var next: ContinuousClock.Instant
    /// Whether an early request waits for the next fetch (which is due no later than it allows).
    private(set) var earlyPending = false
    /// Failed fetches since the last good one.
    private(set) var failures = 0

    /// A schedule whose previous fetch began at `lastFetch` (the initial fetch); the next is due
    /// a regular interval later, or at once with `dueNow` (a set nothing was fetched for yet).
    init(refreshInterval: Duration, minimum: Duration, maximum: Duration, lastFetch: ContinuousClock.Instant, dueNow: Bool = false) {
        // A floor, so that a zero minimum cannot turn failures into a busy loop.
        self.minimum = max(minimum, .milliseconds(10))
        self.maximum = max(maximum, self.minimum)
        self.refreshInterval = min(max(refreshInterval, self.minimum), self.maximum)
        self.lastFetch = lastFetch
        self.next = dueNow ? lastFetch : lastFetch + self.refreshInterval
    }

    /// An unknown `kid` was seen at `now`: brings `next` forward to `now`, or to `minimum` after the
    /// previous fetch when that is later. Returns the (possibly unchanged) due time.
    @discardableResult
    mutating func requestEarly(now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        next = min(next, max(now, lastFetch + minimum))
        // Whatever fetch comes next serves this request; until it begins, more requests change
        // nothing and need not be listened to.
        earlyPending = true
        return next
    }

    /// A fetch began at `now`.
    mutating func fetchStarted(at now: ContinuousClock.Instant) {
        lastFetch = now
        earlyPending = false
    }

    /// The fetch succeeded at `now`; `maxAge` from its `Cache-Control`, when it had one.
    mutating func fetchSucceeded(at now: ContinuousClock.Instant, maxAge: Duration?) {
        failures = 0
        next = now + interval(maxAge: maxAge)
    }

    /// The fetch failed at `now`.
    mutating func fetchFailed(at now: ContinuousClock.Instant) {
        failures += 1
        var delay = minimum
        for _ in 1..<min(failures, 32) where delay < refreshInterval { delay = delay * 2 }
        next = now + min(max(delay, minimum), refreshInterval)
    }

    /// The interval after a good fetch.
    func interval(maxAge: Duration?) -> Duration {
        guard let maxAge else { return refreshInterval }
        return min(max(maxAge, minimum), maximum)
    }

    /// The `max-age` of a `Cache-Control` header (RFC 9111 §5.2.2.1); `no-cache` and `no-store`
    /// count as 0 (so the minimum interval applies). Nil when neither is present or the value is
    /// not a number.
    static func maxAge(cacheControl: String) -> Duration? {
        var result: Duration? = nil
        for directive in cacheControl.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1)
            let name = parts[0].trimmingCharacters(in: " \t").lowercased()
            switch name {
            case "no-cache", "no-store":
                return .zero
            case "max-age" where parts.count == 2:
                var value = parts[1].trimmingCharacters(in: " \t")
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                guard !value.isEmpty, value.allSatisfy(\.isASCII), let seconds = Int64(value), seconds >= 0 else { return nil }
                result = .seconds(seconds)
            default:
                continue
            }
        }
        return result
    }
}

extension Substring {
    /// The text without leading and trailing characters from `set`.
    fileprivate func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = self[...]
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
