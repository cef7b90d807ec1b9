import AsyncHTTPClient
import Foundation
import GatewayAuth
import GatewayHandshake
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// What one refresh of a remote key set did (for tests and tools; the log and
/// `wsgate_jwks_refresh_total{result}` say the same).
public enum JWKSRefreshEvent: Sendable, Equatable {
    /// A good document was fetched and installed; `keyIDs` are its kids (keys without one are
    /// counted as empty strings), `early` when an unknown `kid` asked for it.
    case refreshed(url: String, keyIDs: [String], early: Bool)
    /// The fetch failed; the last good keys keep serving.
    case failed(url: String, reason: String, early: Bool)
}

/// A remote key set that could not be fetched, or a start-up without any usable copy of one.
public struct JWKSError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for operators.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// Keeps the gateway's remote key sets (`keys[].jwks_url`) fresh.
///
/// ```swift
/// let remote = try await JWKSRefresher.fetchInitial(configuration.remoteKeySets, logger: logger)
/// let gateway = try await Gateway.start(configuration: configuration, remoteKeys: remote, …)
/// let refresher = JWKSRefresher(gateway: gateway, sets: configuration.remoteKeySets, logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { await refresher.run() }   // until cancelled
///     …
/// }
/// ```
///
/// Each set is fetched again after its `Cache-Control: max-age` (clamped to the configured bounds)
/// or its `refresh_interval`; a failed fetch keeps the last good keys (stale-while-error) and is
/// retried with backoff; a token refused as `unknown_key` asks every set for one early fetch, at
/// most one per `min_refresh_interval` (see `JWKSRefreshSchedule`). Each good document is also
/// written to the set's `cache_file`, which start-up falls back to when the URL is unreachable.
/// After a configuration reload, `update(sets:)` starts sets the new configuration adds (fetched
/// at once) and stops those it drops.
public final class JWKSRefresher: Sendable {
    /// Largest JWKS document accepted (real ones are a few KiB).
    public static let maximumDocumentBytes = 1 << 20
    /// Default bound on one fetch: connect (retried while refused), request and the whole response.
    public static let fetchTimeout: TimeAmount = .seconds(10)

    /// The sets kept fresh, one per URL.
    public var sets: [RemoteKeySetConfiguration] {
        registry.withLockedValue { registry in registry.order.compactMap { registry.entries[$0]?.set } }
    }
    /// Refresh outcomes as they happen (the newest 64 are kept when nobody reads them).
    public let events: AsyncStream<JWKSRefreshEvent>

    private let gateway: Gateway
    private let logger: Logger
    private let group: EventLoopGroup
    private let timeout: TimeAmount
    private let metrics = GatewayMetrics()
    private let registry: NIOLockedValueBox<Registry>
    private let changes: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)
    private let eventSink: AsyncStream<JWKSRefreshEvent>.Continuation
    private let results = NIOLockedValueBox(JWKSRefreshCounts())
    /// The injected clock's `now` and `sleep(until:)`: the schedule's time, so tests drive it.
    private let currentInstant: @Sendable () -> ContinuousClock.Instant
    private let sleepUntil: @Sendable (ContinuousClock.Instant) async throws -> Void

    /// Good and failed refreshes so far, as counted into `wsgate_jwks_refresh_total{result}`.
    public var counts: JWKSRefreshCounts { results.withLockedValue { $0 } }

    /// A refresher for `sets` (duplicates of a URL are ignored) that installs into `gateway`.
    ///
    /// - Parameters:
    ///   - group: where the HTTP client runs; the process-wide singleton by default, so that the
    ///     gateway's own loops can shut down independently.
    ///   - timeout: bound on each fetch.
    public convenience init(
        gateway: Gateway, sets: [RemoteKeySetConfiguration], logger: Logger,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: TimeAmount = fetchTimeout
    ) {
        self.init(gateway: gateway, sets: sets, logger: logger, group: group, timeout: timeout, clock: ContinuousClock())
    }

    /// A refresher whose schedule (intervals, backoff, the early-fetch bound) runs on `clock`:
    /// tests pass a clock they advance by hand instead of waiting for real intervals.
    public init<C: Clock>(
        gateway: Gateway, sets: [RemoteKeySetConfiguration], logger: Logger,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: TimeAmount = fetchTimeout, clock: C
    ) where C.Instant == ContinuousClock.Instant {
        currentInstant = { clock.now }
        sleepUntil = { deadline in try await clock.sleep(until: deadline, tolerance: nil) }
        var registry = Registry()
        _ = registry.replace(with: sets, fetchNow: false)
        self.registry = NIOLockedValueBox(registry)
        self.changes = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.gateway = gateway
        self.logger = logger
        self.group = group
        self.timeout = timeout
        (events, eventSink) = AsyncStream.makeStream(of: JWKSRefreshEvent.self, bufferingPolicy: .bufferingNewest(64))
    }

    // MARK: Start-up

    /// Fetches every set once, before the gateway starts. A set that cannot be fetched starts from
    /// its `cache_file` (with a warning); without a readable cached copy start-up fails, naming
    /// every such set. Good documents are written to their cache files. Each fetch takes at most
    /// `timeout`; the sets are fetched concurrently.
    public static func fetchInitial(
        _ sets: [RemoteKeySetConfiguration], logger: Logger,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: TimeAmount = fetchTimeout
    ) async throws -> [String: [VerificationKey]] {
        guard !sets.isEmpty else { return [:] }
        let outcomes = try await HTTPClient.withHTTPClient(eventLoopGroup: group, configuration: clientConfiguration(timeout: timeout)) { client in
            try await withThrowingTaskGroup(of: (String, Result<[VerificationKey], JWKSError>).self) { tasks in
                var seen: Set<String> = []
                for set in sets where seen.insert(set.url).inserted {
                    tasks.addTask { (set.url, await initialKeys(set, client: client, timeout: timeout, logger: logger)) }
                }
                var outcomes: [String: Result<[VerificationKey], JWKSError>] = [:]
                for try await (url, outcome) in tasks { outcomes[url] = outcome }
                return outcomes
            }
        }
        var keys: [String: [VerificationKey]] = [:]
        var problems: [String] = []
        for set in sets {
            switch outcomes[set.url] {
            case .success(let fetched)?: keys[set.url] = fetched
            case .failure(let error)?: problems.append(error.description)
            case nil: break
            }
        }
        guard problems.isEmpty else { throw JWKSError(problems.joined(separator: "; ")) }
        return keys
    }

    /// One set at start-up: fetched, else from its cache file, else the error to report.
    private static func initialKeys(
        _ set: RemoteKeySetConfiguration, client: HTTPClient, timeout: TimeAmount, logger: Logger
    ) async -> Result<[VerificationKey], JWKSError> {
        let fetchError: JWKSError
        do throws(JWKSError) {
            let document = try await fetch(set, client: client, timeout: timeout)
            logRefused(document.refused, url: set.url, logger: logger)
            writeCache(document.body, for: set, logger: logger)
            logger.info("jwks fetched", metadata: ["url": "\(set.url)", "keys": "\(document.keys.count)"])
            return .success(document.keys)
        } catch {
            fetchError = error
        }
        guard let cacheFile = set.cacheFile else {
            return .failure(JWKSError("jwks_url \(set.url) unreachable: \(fetchError); no cached copy (set cache_file to start from the last good copy)"))
        }
        do throws(JWKSError) {
            let keys = try cachedKeys(set, path: cacheFile, logger: logger)
            logger.warning("jwks_url unreachable; starting from the cached copy", metadata: [
                "url": "\(set.url)", "error": "\(fetchError)", "cache_file": "\(cacheFile)", "keys": "\(keys.count)",
            ])
            return .success(keys)
        } catch {
            return .failure(JWKSError("jwks_url \(set.url) unreachable: \(fetchError); no cached copy: \(error)"))
        }
    }

    /// The keys of a cache file (unsafe keys left out and logged, like a fetched document's).
    private static func cachedKeys(_ set: RemoteKeySetConfiguration, path: String, logger: Logger) throws(JWKSError) -> [VerificationKey] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JWKSError("cache_file \(path) cannot be read")
        }
        do throws(KeyError) {
            var refused: [KeyError] = []
            let keys = try VerificationKey.jwks(json: Array(data), allowed: set.algorithms, refused: &refused)
            logRefused(refused, url: set.url, logger: logger)
            return keys
        } catch {
            throw JWKSError("cache_file \(path): \(error.description)")
        }
    }

    /// One warning per key of a set left out as unsafe; the rest of the set serves. Repeated on
    /// every fetch that still carries it, so the issuer's mistake stays visible.
    static func logRefused(_ refused: [KeyError], url: String, logger: Logger) {
        for error in refused {
            logger.warning("jwks key refused as unsafe; the set's other keys serve", metadata: ["url": "\(url)", "error": "\(error)"])
        }
    }

    /// Writes a good document to the set's cache file, atomically (a temporary file in the same
    /// directory, then rename(2)), so a reader never sees half a document. A failure is logged:
    /// the keys are already installed, only the fallback copy is missing.
    private static func writeCache(_ body: [UInt8], for set: RemoteKeySetConfiguration, logger: Logger) {
        guard let path = set.cacheFile else { return }
        do {
            // `.atomic` is Foundation's temp-file-and-rename.
            try Data(body).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            logger.warning("cannot write the jwks cache file", metadata: ["url": "\(set.url)", "cache_file": "\(path)", "error": "\(error)"])
        }
    }

    // MARK: Fetching

    /// Redirects are not followed (configure the final URL); bounded connect and read.
    static func clientConfiguration(timeout: TimeAmount) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: timeout, read: timeout)
        )
        configuration.httpVersion = .http1Only
        return configuration
    }

    /// A fetched and parsed document.
    struct Document {
        /// The usable keys.
        var keys: [VerificationKey]
        /// Keys left out as unsafe (weak RSA exponent, failed public key check), for the log.
        var refused: [KeyError] = []
        /// The document as received (written to the cache file).
        var body: [UInt8]
        /// `Cache-Control: max-age`, when given.
        var maxAge: Duration?
    }

    /// One GET of the set's URL: 200, at most `maximumDocumentBytes`, a JWKS with a usable key.
    static func fetch(_ set: RemoteKeySetConfiguration, client: HTTPClient, timeout: TimeAmount) async throws(JWKSError) -> Document {
        var request = HTTPClientRequest(url: set.url)
        request.headers.add(name: "Accept", value: "application/jwk-set+json, application/json")
        request.headers.add(name: "User-Agent", value: "wsgate")
        if let caFile = set.caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            request.tlsConfiguration = tls
        }
        let body: ByteBuffer
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
            guard response.status == .ok else {
                let redirect = (300..<400).contains(response.status.code) ? "; redirects are not followed: configure the final URL" : ""
                throw JWKSError("HTTP \(response.status.code) \(response.status.reasonPhrase)\(redirect)")
            }
            body = try await response.body.collect(upTo: maximumDocumentBytes)
        } catch let error as JWKSError {
            throw error
        } catch is NIOTooManyBytesError {
            throw JWKSError("the document is larger than \(maximumDocumentBytes / 1024) KiB")
        } catch {
            throw JWKSError(describe(error))
        }
        let bytes = Array(body.readableBytesView)
        do throws(KeyError) {
            var refused: [KeyError] = []
            let keys = try VerificationKey.jwks(json: bytes, allowed: set.algorithms, refused: &refused)
            let maxAge = response.headers["Cache-Control"].isEmpty ? nil
                : JWKSRefreshSchedule.maxAge(cacheControl: response.headers["Cache-Control"].joined(separator: ","))
            return Document(keys: keys, refused: refused, body: bytes, maxAge: maxAge)
        } catch {
            throw JWKSError(error.description)
        }
    }

    /// A transport error in a few words.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            return error.shortDescription
        }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode)).lowercased()
        }
        let text = "\(error)"
        if error is NIOSSLError, text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the server's TLS certificate is not trusted (CERTIFICATE_VERIFY_FAILED); set tls_ca_file when it comes from a private CA"
        }
        return text
    }

    // MARK: Running

    /// Follows a reloaded configuration: sets it adds, or changes, start now with a fetch (their
    /// keys are missing until it completes); sets it drops stop. Call after `Gateway.reload`
    /// (which keeps the keys of sets still named).
    public func update(sets: [RemoteKeySetConfiguration]) {
        let retired = registry.withLockedValue { $0.replace(with: sets, fetchNow: true) }
        for trigger in retired { trigger.fire() }
        changes.continuation.yield()
    }

    /// Refreshes every set until the task is cancelled. Registers itself for the gateway's
    /// unknown-`kid` notices while it runs. Run it once.
    public func run() async {
        let registry = self.registry
        gateway.onUnknownKey { _ in
            for trigger in registry.withLockedValue({ $0.entries.values.map(\.trigger) }) { trigger.fire() }
        }
        defer {
            gateway.onUnknownKey { _ in }
            eventSink.finish()
        }
        do {
            try await HTTPClient.withHTTPClient(eventLoopGroup: group, configuration: Self.clientConfiguration(timeout: timeout)) { client in
                await withDiscardingTaskGroup { tasks in
                    // One loop per set and generation; a loop whose entry was dropped or
                    // replaced ends by itself (its trigger is fired).
                    var started: [String: Int] = [:]
                    var updates = changes.stream.makeAsyncIterator()
                    repeat {
                        let wanted = registry.withLockedValue { $0.entries }
                        for (url, entry) in wanted where started[url] != entry.generation {
                            started[url] = entry.generation
                            tasks.addTask { await self.refresh(url: url, generation: entry.generation, client: client) }
                        }
                        started = started.filter { wanted[$0.key] != nil }
                    } while await updates.next() != nil && !Task.isCancelled
                }
            }
        } catch {
            // Only the client's shutdown can throw here; nothing is left to refresh.
            logger.debug("jwks client shutdown", metadata: ["error": "\(error)"])
        }
    }

    /// The loop of one set, while the registry holds it at `generation`.
    private func refresh(url: String, generation: Int, client: HTTPClient) async {
        func current() -> Registry.Entry? {
            registry.withLockedValue { $0.entries[url] }.flatMap { $0.generation == generation ? $0 : nil }
        }
        guard let entry = current() else { return }
        let set = entry.set, trigger = entry.trigger
        var schedule = JWKSRefreshSchedule(
            refreshInterval: .init(set.refreshInterval), minimum: .init(set.minimumRefreshInterval),
            maximum: .init(set.maximumRefreshInterval), lastFetch: currentInstant(), dueNow: entry.fetchNow
        )
        var lastBody: [UInt8]? = nil
        let firstFetch = wallTime(of: schedule.next)
        gateway.updateKeySetStatus(url: url) { $0.nextFetch = firstFetch }
        while true {
            // While an early fetch is already scheduled, further notices change nothing: they
            // stay pending and are cleared when that fetch begins.
            let wake = await wait(until: schedule.next, for: schedule.earlyPending ? nil : trigger)
            guard current() != nil else { return }
            var early = schedule.earlyPending
            switch wake {
            case .cancelled:
                return
            case .trigger:
                let now = currentInstant()
                if schedule.requestEarly(now: now) > now { continue }
                early = true
            case .due:
                break
            }
            trigger.reset()
            schedule.fetchStarted(at: currentInstant())
            do throws(JWKSError) {
                let document = try await Self.fetch(set, client: client, timeout: timeout)
                Self.logRefused(document.refused, url: set.url, logger: logger)
                gateway.updateRemoteKeys(url: set.url, keys: document.keys)
                if document.body != lastBody {
                    Self.writeCache(document.body, for: set, logger: logger)
                    lastBody = document.body
                }
                schedule.fetchSucceeded(at: currentInstant(), maxAge: document.maxAge)
                let next = wallTime(of: schedule.next)
                gateway.updateKeySetStatus(url: url) { status in
                    let now = Date().timeIntervalSince1970
                    status = RemoteKeySetStatus(
                        installedAt: now, lastAttempt: now, lastError: nil, nextFetch: next, failures: 0, fetched: status.fetched + 1
                    )
                }
                record(.refreshed(url: set.url, keyIDs: document.keys.map { $0.id ?? "" }, early: early))
                logger.debug("jwks refreshed", metadata: [
                    "url": "\(set.url)", "keys": "\(document.keys.count)", "early": "\(early)",
                    "next_in": "\(Self.seconds(schedule.next - currentInstant()))",
                ])
            } catch {
                if Task.isCancelled { return }
                schedule.fetchFailed(at: currentInstant())
                let next = wallTime(of: schedule.next), failures = schedule.failures
                gateway.updateKeySetStatus(url: url) { status in
                    status.lastAttempt = Date().timeIntervalSince1970
                    status.lastError = error.description
                    status.nextFetch = next
                    status.failures = failures
                }
                record(.failed(url: set.url, reason: error.description, early: early))
                logger.warning("jwks refresh failed; the last good keys keep serving", metadata: [
                    "url": "\(set.url)", "error": "\(error)", "failures": "\(schedule.failures)",
                    "retry_in": "\(Self.seconds(schedule.next - currentInstant()))",
                ])
            }
        }
    }

    /// The wall-clock time (unix seconds) of an instant of the schedule's clock, for the dashboard.
    private func wallTime(of instant: ContinuousClock.Instant) -> Double {
        let ahead = instant - currentInstant()
        let (seconds, attoseconds) = ahead.components
        return Date().timeIntervalSince1970 + Double(seconds) + Double(attoseconds) / 1e18
    }

    /// `12.3s`, for logs.
    private static func seconds(_ duration: Duration) -> String {
        let tenths = (duration / .milliseconds(100)).rounded()
        return "\(tenths / 10)s"
    }

    /// Counts an outcome (metric and `counts`) and publishes it.
    private func record(_ event: JWKSRefreshEvent) {
        switch event {
        case .refreshed:
            metrics.jwksRefresh(result: "ok")
            results.withLockedValue { $0.ok += 1 }
        case .failed:
            metrics.jwksRefresh(result: "error")
            results.withLockedValue { $0.error += 1 }
        }
        eventSink.yield(event)
    }

    /// Why a wait ended.
    private enum Wake { case due, trigger, cancelled }

    /// Sleeps until `deadline` on the schedule's clock, or until `trigger` fires (when given), or
    /// until cancelled.
    private func wait(until deadline: ContinuousClock.Instant, for trigger: RefreshTrigger?) async -> Wake {
        let sleepUntil = self.sleepUntil
        guard let trigger else {
            do {
                try await sleepUntil(deadline)
                return .due
            } catch {
                return .cancelled
            }
        }
        let wake = await withTaskGroup(of: Wake.self) { racers in
            racers.addTask {
                do {
                    try await sleepUntil(deadline)
                    return .due
                } catch {
                    return .cancelled
                }
            }
            racers.addTask { await trigger.wait() ? .trigger : .cancelled }
            let first = await racers.next() ?? .cancelled
            racers.cancelAll()
            return first
        }
        return Task.isCancelled ? .cancelled : wake
    }
}

/// The sets a refresher keeps fresh, by URL, each with the generation of its loop.
private struct Registry {
    /// One set and its loop's identity.
    struct Entry {
        var set: RemoteKeySetConfiguration
        var generation: Int
        var trigger: RefreshTrigger
        /// Added after start-up: nothing was fetched for it yet.
        var fetchNow: Bool
    }

    var entries: [String: Entry] = [:]
    var order: [String] = []
    private var generations = 0

    /// Takes `sets` (the first of each URL); returns the triggers of entries dropped or replaced,
    /// to wake their loops so they end. Unchanged sets keep their loop; new ones are marked
    /// `fetchNow` as given.
    mutating func replace(with sets: [RemoteKeySetConfiguration], fetchNow: Bool) -> [RefreshTrigger] {
        var kept: [String: Entry] = [:]
        var retired: [RefreshTrigger] = []
        order = []
        for set in sets where kept[set.url] == nil {
            order.append(set.url)
            if let existing = entries[set.url], existing.set == set {
                kept[set.url] = existing
                continue
            }
            if let existing = entries[set.url] { retired.append(existing.trigger) }
            generations += 1
            kept[set.url] = Entry(set: set, generation: generations, trigger: RefreshTrigger(), fetchNow: fetchNow)
        }
        for (url, entry) in entries where kept[url] == nil { retired.append(entry.trigger) }
        entries = kept
        return retired
    }
}

/// Refresh outcomes counted so far.
public struct JWKSRefreshCounts: Sendable, Equatable {
    /// Good fetches (`result="ok"`).
    public var ok = 0
    /// Failed fetches (`result="error"`).
    public var error = 0
    /// Creates counts.
    public init(ok: Int = 0, error: Int = 0) {
        self.ok = ok
        self.error = error
    }
}

/// Wakes one set's refresh loop early. Signals while the loop is not waiting collapse into one
/// pending signal, so a flood of unknown kids costs a lock each and nothing more.
final class RefreshTrigger: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Bool, Never>?
    }

    private let state = NIOLockedValueBox(State())

    /// Wakes the waiter, or leaves a pending signal for the next wait. Cheap: callable from an
    /// event loop.
    func fire() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: true)
    }

    /// Forgets a pending signal (a fetch is beginning, which serves it).
    func reset() {
        state.withLockedValue { $0.pending = false }
    }

    /// Waits for a signal: true when fired, false when the task was cancelled. One waiter at a time.
    func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate = state.withLockedValue { state -> Bool? in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    // Checked under the lock: a cancellation handler that runs after this sees
                    // the waiter installed and resumes it.
                    if Task.isCancelled { return false }
                    state.waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: false)
        }
    }
}

extension Duration {
    /// The same span as a NIO `TimeAmount`.
    fileprivate init(_ amount: TimeAmount) {
        self = .nanoseconds(amount.nanoseconds)
    }
}
