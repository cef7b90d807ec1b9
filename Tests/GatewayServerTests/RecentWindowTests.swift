@testable import GatewayServer
import GatewayHandshake
import Testing

/// The ring behind the admin `/rejections` window and `wsgate rejections --limit`.
@Suite struct RecentWindowTests {
    @Test("keeps exactly the newest N, oldest first, at and past the edge", arguments: [1, 2, 3, 5])
    func keepsNewest(capacity: Int) {
        var window = RecentWindow<Int>(capacity: capacity)
        for value in 0..<capacity {
            window.append(value)
        }
        #expect(window.elements == Array(0..<capacity))
        window.append(capacity)  // N+1: the oldest goes
        #expect(window.elements == Array(1...capacity))
        for value in (capacity + 1)..<(3 * capacity + 1) {
            window.append(value)
        }
        #expect(window.elements == Array((2 * capacity + 1)...(3 * capacity)))
        #expect(window.count == capacity)
        #expect(window.newest(1) == [3 * capacity])
        #expect(window.newest(capacity + 10) == window.elements)
        #expect(window.newest(0) == [] && window.newest(-1) == [])
    }

    @Test("nil keeps everything; 0 and negative keep nothing")
    func unboundedAndEmpty() {
        var all = RecentWindow<Int>(capacity: nil)
        var none = RecentWindow<Int>(capacity: 0)
        var negative = RecentWindow<Int>(capacity: -3)
        for value in 0..<1000 {
            all.append(value)
            none.append(value)
            negative.append(value)
        }
        #expect(all.elements == Array(0..<1000))
        #expect(none.elements == [] && negative.elements == [])
    }

    @Test("RejectionLog.recent is the window: the newest records, oldest first, limited")
    func rejectionLogRecent() {
        let log = RejectionLog(destination: .disabled, recentCapacity: 3)
        for second in 0..<5 {
            log.record(RejectionRecord(time: "2026-11-25T00:00:0\(second).000Z", status: 401, reason: "token_expired"))
        }
        #expect(log.recent(limit: 10).map(\.time) == (2..<5).map { "2026-11-25T00:00:0\($0).000Z" })
        #expect(log.recent(limit: 1).map(\.time) == ["2026-11-25T00:00:04.000Z"])
    }
}
