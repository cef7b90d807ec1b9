#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole buffers to a file descriptor: the one `write(2)` loop for the gateway's log lines,
/// the rejection log, the revocation file and the CLI's standard output.
///
/// `write(2)` may write less than asked (a pipe, a full socket buffer) and may be interrupted by a
/// signal before writing anything (`EINTR`, POSIX.1-2017 `write`); both mean "go on", so this
/// loops until every byte is written or a real error stops it.
public enum DescriptorWriter {
    /// Writes all of `bytes` to `descriptor`; nil when they all went out, else the `errno` that
    /// stopped the writing (the bytes before it were written).
    public static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32? {
        guard let base = bytes.baseAddress else { return nil }
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, base + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            // A zero-byte write of a non-empty buffer makes no progress; give up rather than spin.
            if written == 0 { return EIO }
            offset += written
        }
        return nil
    }

    /// Writes all of `bytes`; see `writeAll(_:to:)`.
    public static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Int32? {
        bytes.withUnsafeBytes { writeAll($0, to: descriptor) }
    }
}
