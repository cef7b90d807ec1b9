#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The follower's position in the live file; reads whatever has been appended since the last look.
///
/// Synchronous and separate from the sequence so that each look is one plain call.
public final class RejectionLogCursor {
    /// The live file's path.
    public let path: String
    private var fd: Int32 = -1
    private var device: UInt64 = 0
    private var inode: UInt64 = 0
    private var offset: Int64 = 0
    private var scanner: RejectionLineScanner
    private var pending: [RejectionLogEvent] = []
    private var pendingIndex = 0
    private var caughtUp = false
    private var reportedMissing = false
    /// The last bytes read (up to 64), to notice the file being rewritten under the read position.
    private var tail: [UInt8] = []

    /// A cursor at the start of the file at `path` (which need not exist yet).
    public init(path: String) {
        self.path = path
        self.scanner = RejectionLineScanner(file: path)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// The next event already available, after one look at the file when none is queued; nil when
    /// nothing new has been written.
    public func nextEvent() -> RejectionLogEvent? {
        if pendingIndex == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingIndex = 0
            look()
        }
        guard pendingIndex < pending.count else { return nil }
        defer { pendingIndex += 1 }
        return pending[pendingIndex]
    }

    /// Reads what was appended; handles rotation and truncation.
    private func look() {
        if fd < 0 { openLive() }
        if fd >= 0 {
            if wasRewritten() {
                // `copytruncate`: the same file, emptied (and perhaps written again since the last
                // look); start again from its beginning.
                scanner.restart(file: path) { pending.append($0) }
                lseek(fd, 0, SEEK_SET)
                offset = 0
                tail.removeAll()
            }
            readToEnd()
        }
        if !caughtUp {
            caughtUp = true
            pending.append(.caughtUp)
        }
        guard fd >= 0 else { return }
        var now = stat()
        guard stat(path, &now) == 0 else { return }  // renamed away; the new file is not there yet
        if UInt64(now.st_dev) != device || UInt64(now.st_ino) != inode {
            // Rotated (`create`): the old file is finished; one last read catches a line written
            // just before the writer reopened.
            readToEnd()
            close(fd)
            fd = -1
            scanner.restart(file: path) { pending.append($0) }
            openLive()
            if fd >= 0 { readToEnd() }
        }
    }

    /// Whether the open file no longer holds what was read from it: it is shorter than the read
    /// position, or the bytes just before that position changed (emptied and refilled past it
    /// between two looks, which a size check alone would miss).
    private func wasRewritten() -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return false }
        if Int64(info.st_size) < offset { return true }
        guard !tail.isEmpty else { return false }
        var current = [UInt8](repeating: 0, count: tail.count)
        let count = current.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset - Int64(tail.count))) }
        return count != tail.count || current != tail
    }

    private func openLive() {
        let opened = open(path, O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else {
            if errno != ENOENT, !reportedMissing {
                reportedMissing = true
                pending.append(.problem(RejectionLogProblem(file: path, line: nil, message: "cannot open: \(String(cString: strerror(errno)))")))
            }
            return
        }
        var info = stat()
        fstat(opened, &info)
        fd = opened
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        offset = 0
        tail.removeAll()
        reportedMissing = false
    }

    private func readToEnd() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: RejectionLogReader.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = systemRead(fd, buffer.baseAddress, RejectionLogReader.chunkSize)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            offset += Int64(count)
            let kept = min(count, 64)
            tail.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(count - kept)..<count]))
            if tail.count > 64 { tail.removeFirst(tail.count - 64) }
            scanner.consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) { pending.append($0) }
        }
    }
}

