import Dispatch
import Foundation
import GatewayHandshake
import Metrics
import NIOConcurrencyHelpers

/// Writes rejection lines without ever blocking an event loop, and keeps the most recent ones in
/// memory for the admin `/rejections` endpoint.
///
/// Lines are handed to a serial background queue that appends them with `write(2)` to a file
/// opened `O_APPEND` (safe with logrotate's `copytruncate`). When the file cannot be written or
/// too many lines are pending, lines are dropped and counted, never queued without bound.
public final class RejectionLog: Sendable {
    private struct State {
        var fd: Int32 = -1
        var pending = 0
        var dropped = 0
        var warned = false
        var recent: RecentWindow<RejectionRecord>
    }

    private let destination: RejectionLogConfiguration.Destination
    private let queue = DispatchQueue(label: "wsgate.rejection-log")
    private let state: NIOLockedValueBox<State>
    private let maxPending = 10_000
    /// Called once (on the log's queue) when lines start being dropped; for the gateway's own log.
    private let onTrouble: @Sendable (String) -> Void

    /// Opens the destination (a file is created if missing).
    public init(
        destination: RejectionLogConfiguration.Destination,
        recentCapacity: Int = 1000,
        onTrouble: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.destination = destination
        self.state = NIOLockedValueBox(State(recent: RecentWindow(capacity: max(1, recentCapacity))))
        self.onTrouble = onTrouble
        reopen()
    }

    deinit {
        let fd = state.withLockedValue { $0.fd }
        if fd > 2 { close(fd) }
    }

    /// Reopens the file (logrotate's `postrotate`: SIGUSR1).
    public func reopen() {
        guard case .file(let path) = destination else { return }
        queue.async { [state] in
            let newFD = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            let oldFD = state.withLockedValue { s -> Int32 in
                let old = s.fd
                s.fd = newFD
                return old
            }
            if oldFD > 2 { close(oldFD) }
        }
    }

    /// `wsgate_rejection_log_dropped_total`: lines lost to a full disk, an unwritable file or
    /// backlog. Made once with the log, not per dropped line.
    private let droppedCounter = Counter(label: "wsgate_rejection_log_dropped_total")

    /// Number of lines dropped because the destination could not keep up or failed.
    public var droppedLines: Int { state.withLockedValue { $0.dropped } }

    /// The most recent records, oldest first, at most `limit`.
    public func recent(limit: Int) -> [RejectionRecord] {
        state.withLockedValue { $0.recent.newest(limit) }
    }

    /// Records one rejection: the ring now, the file soon.
    public func record(_ record: RejectionRecord) {
        let accept = state.withLockedValue { s -> Bool in
            s.recent.append(record)
            if case .disabled = destination { return false }
            if s.pending >= maxPending {
                s.dropped += 1
                droppedCounter.increment()
                return false
            }
            s.pending += 1
            return true
        }
        guard accept else { return }
        let line = record.jsonLine() + "\n"
        queue.async { [state, destination, onTrouble, droppedCounter] in
            let fd: Int32
            switch destination {
            case .standardError: fd = 2
            case .file: fd = state.withLockedValue { $0.fd }
            case .disabled: return
            }
            // No descriptor (the file could not be opened) counts as a failed write.
            let failure = fd >= 0 ? DescriptorWriter.writeAll(Array(line.utf8), to: fd) : EBADF
            let ok = failure == nil
            let warn = state.withLockedValue { s -> Bool in
                s.pending -= 1
                guard !ok else { return false }
                s.dropped += 1
                droppedCounter.increment()
                defer { s.warned = true }
                return !s.warned
            }
            if warn {
                onTrouble("rejection log is not writable (\(String(cString: strerror(failure ?? 0)))); dropping lines and counting them")
            }
        }
    }

    /// Waits until every line handed over so far has been written (tests, shutdown).
    public func flush() {
        queue.sync {}
    }
}
