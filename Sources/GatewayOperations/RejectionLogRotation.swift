/// Which rotated siblings of the log to read besides the live file.
public enum RejectionLogRotation: Sendable, Equatable {
    /// Only the live file.
    case none
    /// The most recently rotated file (`FILE.1` or `FILE.1.gz`) and the live file: the default,
    /// so that a rotation a minute ago does not hide the last hour.
    case latest
    /// Every rotated sibling, oldest first (`FILE.9.gz` … `FILE.2.gz`, `FILE.1`), then the live file.
    case all
}
