import Foundation
import GatewayAuth
import Testing

/// One `JWTVerifier` used from many threads at once: per-call OpenSSL contexts are copies of the
/// key's template, so results never bleed between calls.
struct ConcurrencyTests {
    /// Eight threads share one verifier over valid and invalid tokens.
    @Test func verifierIsSharedAcrossThreads() throws {
        let set = FixtureSet.shared
        let verifier = set.verifier
        let tokens = set.interop.map(\.token) + [TokenFixture.tamperedSignature.token, TokenFixture.expired.token]
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<40 {
                let index = (worker + round) % tokens.count
                let result = Result { () throws(TokenError) in try verifier.verify(tokens[index], now: set.now) }
                let shouldPass = index < set.interop.count
                switch result {
                case .success: if !shouldPass { failures.increment() }
                case .failure: if shouldPass { failures.increment() }
                }
            }
        }
        #expect(failures.value == 0)
    }
}

/// A thread-safe counter for the test.
final class Counter: @unchecked Sendable {
    // Safe: `count` is only touched under `lock`.
    private let lock = NSLock()
    private var count = 0
    /// Adds one.
    func increment() { lock.lock(); count += 1; lock.unlock() }
    /// The current count.
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
