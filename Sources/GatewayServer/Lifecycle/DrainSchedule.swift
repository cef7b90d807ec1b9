import NIOCore

/// When each open session is sent its 1001 during a drain: evenly over `spread`, the way
/// HAProxy's `close-spread-time` spreads its closes, so that a hundred thousand clients reconnect
/// over the spread rather than in the same second.
///
/// ```swift
/// DrainSchedule(spread: .seconds(10)).offset(index: 3, of: 4)   // 7.5 s
/// ```
public struct DrainSchedule: Sendable, Hashable {
    /// The period the closes are spread over; zero sends them all at once.
    public var spread: TimeAmount

    /// Creates a schedule over `spread` (negative is taken as zero).
    public init(spread: TimeAmount) {
        self.spread = max(.zero, spread)
    }

    /// The delay before the close of session `index` (0-based) of `count`: `index * spread / count`.
    /// The first goes at once and the last at `spread * (count - 1) / count`, so consecutive closes
    /// are `spread / count` apart and all of them are sent before `spread` ends.
    public func offset(index: Int, of count: Int) -> TimeAmount {
        guard count > 0, index > 0, spread > .zero else { return .zero }
        let clamped = Int64(min(index, count - 1))
        // Multiplied first for exact offsets; spread (ns) × index could overflow Int64 only for
        // absurd spreads and session counts, where a Double's rounding no longer matters.
        let (product, overflow) = spread.nanoseconds.multipliedReportingOverflow(by: clamped)
        if overflow {
            return .nanoseconds(Int64((Double(spread.nanoseconds) * Double(clamped) / Double(count)).rounded(.down)))
        }
        return .nanoseconds(product / Int64(count))
    }
}
