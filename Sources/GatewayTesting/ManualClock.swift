import NIOConcurrencyHelpers

/// A clock that stands still until a test advances it: sleepers wake exactly when `advance(by:)`
/// reaches their deadline, so timing rules (refresh intervals, backoff, rate bounds) are tested
/// at their exact edges without waiting for real time. Its instants are `ContinuousClock`'s, so
/// code written against that clock takes it unchanged.
public final class ManualClock: Clock, Sendable {
    public typealias Instant = ContinuousClock.Instant

    private struct Sleeper {
        var id: UInt64
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Watcher {
        var id: UInt64
        var deadline: Instant
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var now: Instant
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        var watchers: [Watcher] = []
    }

    private let state: NIOLockedValueBox<State>

    /// A clock standing at `start`.
    public init(start: Instant = ContinuousClock.now) {
        state = NIOLockedValueBox(State(now: start))
    }

    /// The current instant: where the last `advance(by:)` left it.
    public var now: Instant { state.withLockedValue { $0.now } }

    /// Any duration can be reached exactly.
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// Suspends until the clock is advanced to `deadline` (at once when it is already there);
    /// throws `CancellationError` when the task is cancelled first.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (immediate, watchers) = state.withLockedValue { state -> (Result<Void, any Error>?, [Watcher]) in
                    // Checked under the lock: a cancellation handler that runs after this finds
                    // the sleeper registered and resumes it.
                    if Task.isCancelled { return (.failure(CancellationError()), []) }
                    if deadline <= state.now { return (.success(()), []) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    let woken = state.watchers.filter { $0.deadline == deadline }
                    state.watchers.removeAll { $0.deadline == deadline }
                    return (nil, woken)
                }
                if let immediate { continuation.resume(with: immediate) }
                for watcher in watchers { watcher.continuation.resume(returning: true) }
            }
        } onCancel: {
            let sleeper = state.withLockedValue { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward and wakes every sleeper whose deadline it reaches.
    public func advance(by duration: Duration) {
        let due = state.withLockedValue { state -> [Sleeper] in
            state.now = state.now + duration
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns true once some task sleeps until exactly `deadline` (at once when one already
    /// does): the signal that the code under test has reached its wait, so the test may advance.
    /// False when none does within `limit` of real time (a broken schedule fails, not hangs).
    public func waitForSleeper(until deadline: Instant, within limit: Duration = .seconds(10)) async -> Bool {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskGroup(of: Bool.self) { racers in
            racers.addTask { await self.watch(id: id, deadline: deadline) }
            racers.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await racers.next() ?? false
            racers.cancelAll()
            return first
        }
    }

    /// True when a sleeper with `deadline` appears; false when cancelled first.
    private func watch(id: UInt64, deadline: Instant) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate = state.withLockedValue { state -> Bool? in
                    if state.sleepers.contains(where: { $0.deadline == deadline }) { return true }
                    if Task.isCancelled { return false }
                    state.watchers.append(Watcher(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let watcher = state.withLockedValue { state -> Watcher? in
                guard let index = state.watchers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.watchers.remove(at: index)
            }
            watcher?.continuation.resume(returning: false)
        }
    }
}
