import GatewayText
import NIOConcurrencyHelpers

/// The last 15 minutes of traffic at 1-second resolution, for the dashboard (`GET /api/stats`).
///
/// A ring of `capacity` samples: memory is bounded by `capacity` × the routes and reasons that
/// actually occurred in a second (idle seconds cost one empty sample). Pure apart from its lock:
/// samples come from `TrafficCounters.drain(second:)` once a second, and `json(seconds:end:open:)`
/// renders whatever window is asked, so tests feed samples without clocks or sockets.
final class TrafficSeries: Sendable {
    /// Samples kept: 15 minutes of seconds.
    static let defaultCapacity = 900

    /// How many samples are kept.
    let capacity: Int
    private let ring: NIOLockedValueBox<[TrafficSample]>

    /// An empty series keeping `capacity` samples.
    init(capacity: Int = TrafficSeries.defaultCapacity) {
        self.capacity = max(1, capacity)
        self.ring = NIOLockedValueBox([])
    }

    /// Adds the sample of one second, dropping the oldest beyond `capacity`.
    func append(_ sample: TrafficSample) {
        ring.withLockedValue { ring in
            ring.append(sample)
            if ring.count > capacity { ring.removeFirst(ring.count - capacity) }
        }
    }

    /// The samples held, oldest first.
    var samples: [TrafficSample] { ring.withLockedValue { $0 } }

    /// The `/api/stats` document for the `seconds` seconds ending with `end` (inclusive):
    ///
    /// `{"resolution":1,"end":E,"seconds":N,"routes":[{"route","open","accepted":[N],"rejected":{reason:[N]}}],"reasons":{reason:[N]}}`
    ///
    /// Element `i` of each array is the second `end - N + 1 + i`; seconds without a sample count 0.
    /// `routes` lists every label in `open` (the routes that exist) and every label with traffic in
    /// the window, sorted; `rejected` and `reasons` name only reasons that occurred in it.
    func json(seconds: Int, end: Int64, open: [String: Int]) -> String {
        let n = min(max(seconds, 1), capacity)
        let first = end - Int64(n) + 1
        var accepted: [String: [Int]] = [:]
        var rejected: [String: [String: [Int]]] = [:]
        var reasons: [String: [Int]] = [:]
        for sample in samples where sample.second >= first && sample.second <= end {
            let i = Int(sample.second - first)
            for (label, counts) in sample.routes {
                accepted[label, default: Array(repeating: 0, count: n)][i] += counts.accepted
                for (reason, count) in counts.rejected {
                    rejected[label, default: [:]][reason, default: Array(repeating: 0, count: n)][i] += count
                    reasons[reason, default: Array(repeating: 0, count: n)][i] += count
                }
            }
        }
        let zeros = Array(repeating: 0, count: n)
        let labels = Set(open.keys).union(accepted.keys).union(rejected.keys).sorted()
        let routes = labels.map { label -> String in
            var out = JSONObjectWriter()
            out.add("route", label)
            out.add("open", Int64(open[label] ?? 0))
            out.add("accepted", raw: TrafficSeries.array(accepted[label] ?? zeros))
            out.add("rejected", raw: TrafficSeries.object(rejected[label] ?? [:]))
            return out.text
        }
        var out = JSONObjectWriter()
        out.add("resolution", Int64(1))
        out.add("end", end)
        out.add("seconds", Int64(n))
        out.add("routes", raw: "[" + routes.joined(separator: ",") + "]")
        out.add("reasons", raw: TrafficSeries.object(reasons))
        return out.text
    }

    private static func array(_ values: [Int]) -> String {
        "[" + values.map(String.init).joined(separator: ",") + "]"
    }

    private static func object(_ series: [String: [Int]]) -> String {
        "{" + series.sorted { $0.key < $1.key }.map { JSONText.quoted($0.key) + ":" + array($0.value) }.joined(separator: ",") + "}"
    }
}
