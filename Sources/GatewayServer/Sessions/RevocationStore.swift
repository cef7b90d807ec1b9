import Foundation
import GatewayHandshake
import Logging
import Metrics
import NIOConcurrencyHelpers

/// The revocations in force on this instance: an immutable `RevocationSet` behind a lock (the
/// handshake reads it once, a copy-on-write reference), changed by the admin API, pruned as
/// entries expire, and saved to `state_dir` after every change when one is configured.
final class RevocationStore: Sendable {
    private let state = NIOLockedValueBox(RevocationSet())
    /// Serialises saves, so the file always ends with the newest set.
    private let saving = NIOLock()
    private let file: RevocationFile?
    private let logger: Logger
    private let active = Gauge(label: "wsgate_revocations_active")

    /// A store that keeps its revocations in `directory` (nil: memory only). Loads what the file
    /// holds now; each line that cannot be read is logged by path and line and skipped, and the
    /// damaged file is kept beside the new one (`.damaged`) so nothing is lost.
    init(directory: String?, logger: Logger, now: Double) {
        self.file = directory.map(RevocationFile.init(directory:))
        self.logger = logger
        guard let file else { return }
        let contents = file.load()
        for problem in contents.problems {
            logger.error("revocation state: \(problem)")
        }
        if !contents.problems.isEmpty {
            let copy = file.path + ".damaged"
            if rename(file.path, copy) == 0 {
                logger.error("revocation state: the damaged file was moved to \(copy); its readable lines are in force")
            }
        }
        var set = RevocationSet(contents.revocations)
        set.removeExpired(now: now)
        state.withLockedValue { $0 = set }
        active.record(set.count)
        if !contents.problems.isEmpty { _ = persist() }
    }

    /// The revocations now.
    var current: RevocationSet { state.withLockedValue { $0 } }

    /// Adds (or replaces, by id) a revocation and saves the set when `save`; returns a problem
    /// when it could not be saved (it is in force anyway).
    func add(_ revocation: Revocation, now: Double, save: Bool = true) -> String? {
        let count = state.withLockedValue { set -> Int in
            set.removeExpired(now: now)
            set.insert(revocation)
            return set.count
        }
        active.record(count)
        return save ? persist() : nil
    }

    /// Lifts a revocation; nil when there was none with that id.
    func lift(id: String) -> (Revocation, problem: String?)? {
        let result = state.withLockedValue { set -> (Revocation, Int)? in
            guard let removed = set.remove(id: id) else { return nil }
            return (removed, set.count)
        }
        guard let (removed, count) = result else { return nil }
        active.record(count)
        return (removed, persist())
    }

    /// Drops expired revocations (called periodically); saves when any went.
    func removeExpired(now: Double) {
        let (removed, count) = state.withLockedValue { set in (set.removeExpired(now: now), set.count) }
        guard removed > 0 else { return }
        active.record(count)
        _ = persist()
    }

    /// Writes the current set when a state directory is configured; the problem, if any.
    private func persist() -> String? {
        guard let file else { return nil }
        return saving.withLock { () -> String? in
            do throws(RevocationFileError) {
                try file.save(current.all)
                return nil
            } catch {
                logger.error("revocation state: \(error.description)")
                return error.description
            }
        }
    }
}
