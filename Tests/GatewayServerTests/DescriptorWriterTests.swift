import Foundation
@testable import GatewayServer
import Testing

/// The one `write(2)` loop: every byte arrives, in order; a failure is reported with its errno.
/// (Short writes and EINTR are not provoked here: a blocking pipe writes whole buffers unless a
/// signal arrives mid-write.)
@Suite struct DescriptorWriterTests {
    @Test("a pipe smaller than the data: every byte arrives, in order, while the reader drains it")
    func pipeGetsEverything() {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        // 4 MiB through a 64 KiB pipe: the writer blocks and resumes many times.
        let bytes = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 12) }
        let readEnd = ends[0]
        // A thread of its own reads (not a task: a blocked pool thread could starve the writer).
        let done = DispatchSemaphore(value: 0)
        let received = ReceivedBytes()
        let reader = Thread {
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                received.bytes.append(contentsOf: chunk[0..<count])
            }
            close(readEnd)
            done.signal()
        }
        reader.start()
        #expect(DescriptorWriter.writeAll(bytes, to: ends[1]) == nil)
        close(ends[1])
        done.wait()
        #expect(received.bytes.count == bytes.count)
        #expect(received.bytes == bytes)
    }

    @Test("a closed descriptor: EBADF, nothing thrown; an empty buffer writes nothing and succeeds")
    func failures() {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        close(ends[0])
        close(ends[1])
        #expect(DescriptorWriter.writeAll([1, 2, 3], to: ends[1]) == EBADF)
        #expect(DescriptorWriter.writeAll([], to: ends[1]) == nil)
    }
}

/// What the reader thread collected.
// @unchecked Sendable: only the reader thread writes `bytes`, and the test reads it only after the
// semaphore the reader signals last (which orders the writes before the read).
private final class ReceivedBytes: @unchecked Sendable {
    var bytes: [UInt8] = []
}
