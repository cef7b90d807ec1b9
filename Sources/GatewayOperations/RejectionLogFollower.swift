/// The live log as an endless sequence: every line already in the file, then `.caughtUp`, then
/// each line as it is appended, like `tail -F`.
///
/// It polls (every `pollInterval`, 250 ms by default) rather than relying on inotify, which keeps
/// it portable and correct on network file systems. Rotation is survived both ways logrotate does
/// it: when the path names a new file (a different inode: `create` mode) the rest of the old file is
/// read and then the new one from its start; when the file shrinks (`copytruncate`) it is read again
/// from its start. A file that does not exist yet is waited for. Iteration ends only when the task
/// is cancelled.
///
/// ```swift
/// for await event in RejectionLogFollower(path: "logs/rejections.jsonl") {
///     if case .record(let record) = event { print(record.jsonLine()) }
/// }
/// ```
public struct RejectionLogFollower: AsyncSequence, Sendable {
    /// An event of the log.
    public typealias Element = RejectionLogEvent
    /// Following never fails; problems are events.
    public typealias Failure = Never

    /// The live file's path.
    public let path: String
    /// How often to look for new lines when there were none.
    public let pollInterval: Duration

    /// Follows the file at `path`.
    public init(path: String, pollInterval: Duration = .milliseconds(250)) {
        self.path = path
        self.pollInterval = pollInterval
    }

    /// Starts following: opens the file on the first `next()`.
    public func makeAsyncIterator() -> Iterator {
        Iterator(cursor: RejectionLogCursor(path: path), pollInterval: pollInterval)
    }

    /// Waits for lines; returns nil only when the task is cancelled.
    public struct Iterator: AsyncIteratorProtocol {
        let cursor: RejectionLogCursor
        let pollInterval: Duration

        /// The next event, waiting for one to be appended when the file has none.
        public mutating func next(isolation actor: isolated (any Actor)? = #isolation) async -> RejectionLogEvent? {
            while !Task.isCancelled {
                if let event = cursor.nextEvent() { return event }
                try? await Task.sleep(for: pollInterval)
            }
            return nil
        }

        /// The next event, waiting for one to be appended when the file has none.
        public mutating func next() async -> RejectionLogEvent? {
            await next(isolation: nil)
        }
    }
}
