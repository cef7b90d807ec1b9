import Testing

@testable import GatewayServer

/// The refresh timing rules, without sockets or waiting: max-age bounds, backoff, early requests.
@Suite struct JWKSRefreshScheduleTests {
    static let start = ContinuousClock.now

    static func schedule() -> JWKSRefreshSchedule {
        JWKSRefreshSchedule(refreshInterval: .seconds(300), minimum: .seconds(30), maximum: .seconds(3600), lastFetch: start)
    }

    @Test("Cache-Control: max-age, quoted or among other directives; no-cache and no-store are 0; junk is ignored", arguments: [
        ("max-age=600", Duration?.some(.seconds(600))),
        ("public, max-age=86400, must-revalidate", .seconds(86400)),
        ("MAX-AGE = 42", .seconds(42)),
        ("max-age=\"90\"", .seconds(90)),
        ("no-cache", .zero),
        ("max-age=600, no-store", .zero),
        ("max-age=-1", nil),
        ("max-age=soon", nil),
        ("public", nil),
        ("", nil),
    ])
    func maxAge(_ header: String, _ expected: Duration?) {
        #expect(JWKSRefreshSchedule.maxAge(cacheControl: header) == expected)
    }

    @Test("after a good fetch: max-age clamped to [minimum, maximum], else the refresh interval")
    func intervalAfterSuccess() {
        var schedule = Self.schedule()
        #expect(schedule.next == Self.start + .seconds(300))
        let now = Self.start + .seconds(10)
        schedule.fetchSucceeded(at: now, maxAge: .seconds(5))
        #expect(schedule.next == now + .seconds(30))
        schedule.fetchSucceeded(at: now, maxAge: .seconds(86400))
        #expect(schedule.next == now + .seconds(3600))
        schedule.fetchSucceeded(at: now, maxAge: .seconds(900))
        #expect(schedule.next == now + .seconds(900))
        schedule.fetchSucceeded(at: now, maxAge: nil)
        #expect(schedule.next == now + .seconds(300))
    }

    @Test("failures retry from the minimum, doubling, never beyond the refresh interval; success resets")
    func backoff() {
        var schedule = Self.schedule()
        let now = Self.start
        var delays: [Duration] = []
        for _ in 0..<6 {
            schedule.fetchFailed(at: now)
            delays.append(schedule.next - now)
        }
        #expect(delays == [.seconds(30), .seconds(60), .seconds(120), .seconds(240), .seconds(300), .seconds(300)])
        schedule.fetchSucceeded(at: now, maxAge: nil)
        schedule.fetchFailed(at: now)
        #expect(schedule.next - now == .seconds(30))
    }

    @Test("an early request runs now when the minimum has passed, else at the minimum; repeats change nothing")
    func earlyRequests() {
        var schedule = Self.schedule()
        // 10 s after the last fetch: not before 30 s.
        #expect(schedule.requestEarly(now: Self.start + .seconds(10)) == Self.start + .seconds(30))
        #expect(schedule.earlyPending)
        for second in 11..<30 {
            #expect(schedule.requestEarly(now: Self.start + .seconds(Int64(second))) == Self.start + .seconds(30))
        }
        schedule.fetchStarted(at: Self.start + .seconds(30))
        #expect(!schedule.earlyPending)
        schedule.fetchSucceeded(at: Self.start + .seconds(31), maxAge: nil)
        // 40 s after that fetch began: immediately.
        #expect(schedule.requestEarly(now: Self.start + .seconds(70)) == Self.start + .seconds(70))
    }

    @Test("an early request never postpones a fetch that is due sooner")
    func earlyNeverLater() {
        var schedule = JWKSRefreshSchedule(refreshInterval: .seconds(40), minimum: .seconds(30), maximum: .seconds(3600), lastFetch: Self.start)
        schedule.fetchFailed(at: Self.start)  // due at +30
        #expect(schedule.requestEarly(now: Self.start + .seconds(1)) == Self.start + .seconds(30))
        #expect(schedule.earlyPending)
    }
}
