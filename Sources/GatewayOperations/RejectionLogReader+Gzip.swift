import CompressNIO
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RejectionLogReader {
    /// Reads a gzip file (logrotate's `compress`) through zlib in the process, a chunk at a time,
    /// so memory stays flat however large the file, and no `gzip` binary is needed.
    ///
    /// Damage never loses what came before it: the lines decompressed up to a corrupt block or the
    /// cut are delivered, then one problem names the file. A file of several gzip members (RFC 1952
    /// §2.2: `cat a.gz b.gz`) is read whole, as `gzip -dc` does.
    func readCompressed(_ file: RejectionLogFile, scanner: inout RejectionLineScanner, _ body: (RejectionLogEvent) -> Void) -> Bool {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            body(.problem(RejectionLogProblem(file: file.path, line: nil, message: "cannot open: \(String(cString: strerror(errno)))")))
            return false
        }
        defer { close(fd) }
        let failure = Self.inflate(fd, into: &scanner, body)
        scanner.finish(body)
        if let failure {
            body(.problem(RejectionLogProblem(file: file.path, line: nil, message: "\(failure); lines before the damage were read")))
        }
        return true
    }

    /// Decompresses `fd` to its end through the scanner; what went wrong, or nil.
    private static func inflate(_ fd: Int32, into scanner: inout RejectionLineScanner, _ body: (RejectionLogEvent) -> Void) -> String? {
        let allocator = ByteBufferAllocator()
        var input = allocator.buffer(capacity: chunkSize / 4)
        var output = allocator.buffer(capacity: chunkSize)
        let decompressor: ZlibDecompressor
        do {
            decompressor = try ZlibDecompressor(algorithm: .gzip)
        } catch {
            return "cannot start gzip decompression (\(error))"
        }
        /// Hands what zlib wrote to the scanner and empties the output buffer.
        func deliver() {
            output.withUnsafeReadableBytes { scanner.consume($0, body) }
            output.clear()
        }
        while true {
            input.clear()
            var readError: Int32 = 0
            let count = input.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize / 4) { space in
                var count: Int
                repeat { count = systemRead(fd, space.baseAddress, space.count) } while count < 0 && errno == EINTR
                if count < 0 { readError = errno }
                return max(count, 0)
            }
            if readError != 0 { return "read failed: \(String(cString: strerror(readError)))" }
            if count == 0 {
                // End of file. A stream that has ended answers an empty call with Z_STREAM_END; one
                // that was cut (or an empty file: no gzip header at all) asks for more input.
                do {
                    try decompressor.inflate(from: &input, to: &output)
                    deliver()
                    return nil
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    deliver()
                    return "truncated gzip data (the file ends inside the compressed stream)"
                } catch {
                    deliver()
                    return Self.describe(error)
                }
            }
            while input.readableBytes > 0 {
                do {
                    try decompressor.inflate(from: &input, to: &output)
                    deliver()
                    // zlib returned without filling the output and without using all input: this
                    // member ended (Z_STREAM_END); another one follows.
                    if input.readableBytes > 0 { try decompressor.reset() }
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    deliver()  // the output filled up; zlib goes on where it stopped
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    deliver()  // every byte used; the next chunk continues the stream
                    break
                } catch {
                    deliver()
                    return Self.describe(error)
                }
            }
        }
    }

    /// The problem text for a zlib failure.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? CompressNIOError, error == .corruptData { return "corrupt gzip data" }
        return "gzip data cannot be read (\(error))"
    }
}
