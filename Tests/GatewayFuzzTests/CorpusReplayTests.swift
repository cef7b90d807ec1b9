import Foundation
import GatewayFuzz
import Testing

/// Every committed corpus file (Tests/Fuzz/corpus/<target>/) through its target's check, in
/// every `swift test`: seeds and the reproducers of past findings (`finding-*`) must all hold
/// every invariant, and each seed must still be accepted (or, named `refused-*`, refused), so
/// the fuzzer keeps starting from inputs that reach the deepest step. libFuzzer itself only
/// runs in scripts/fuzz.sh.
@Suite struct CorpusReplayTests {
    /// Tests/Fuzz/corpus, found from this file.
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    @Test(arguments: FuzzTarget.allCases)
    func corpusHoldsEveryInvariant(_ target: FuzzTarget) throws {
        let directory = Self.corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        // A target without seeds would pass vacuously.
        #expect(names.count >= 3, "\(target.rawValue) has \(names.count) corpus files")
        for name in names {
            let bytes = try Data(contentsOf: directory.appendingPathComponent(name))
            if let failure = target.check(Array(bytes)) {
                Issue.record("\(target.rawValue)/\(name): \(failure)")
            }
            // Seeds reach the step they were written for: refused-* are refused, the rest accepted.
            if !name.hasPrefix("finding-") {
                #expect(target.accepts(Array(bytes)) == !name.hasPrefix("refused-"), "\(target.rawValue)/\(name)")
            }
        }
    }
}
