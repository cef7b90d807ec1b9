import GatewayAuth
import GatewayConfig
import GatewayHandshake
import Testing

/// `auth.try_all_keys`, `auth.token_cache_size`, and `wsgate check`'s warning about keys that
/// share an algorithm.
@Suite struct TokenCacheConfigTests {
    static let listen = """
        listen:
          - address: 127.0.0.1:8080
        routes:
          - path: /ws
            upstream: ws://127.0.0.1:9001/

        """

    static func keys(_ count: Int, firstWithoutID: Bool = false) -> String {
        "keys:\n" + (0..<count).map { index in
            (index == 0 && firstWithoutID ? "  - {" : "  - {id: k\(index + 1), ") + "algorithms: [HS256], secret_env: WSGATE_HS_SECRET}\n"
        }.joined()
    }

    @Test func defaultsAreOneKeyPerAlgorithmAndA1024EntryCache() throws {
        let config = try ConfigFixture().load(Self.listen + Self.keys(1))
        #expect(config.auth.tryAllKeys == false)
        #expect(config.auth.policy.tryAllKeys == false)
        #expect(config.auth.tokenCacheSize == 1024)
        #expect(config.warnings == [])
    }

    @Test func bothKeysAreRead() throws {
        let config = try ConfigFixture().load(Self.listen + Self.keys(1) + "auth:\n  try_all_keys: true\n  token_cache_size: 0\n")
        #expect(config.auth.tryAllKeys == true)
        #expect(config.auth.policy.tryAllKeys == true)
        #expect(config.auth.tokenCacheSize == 0)
        let largest = try ConfigFixture().load(Self.listen + Self.keys(1) + "auth:\n  token_cache_size: 1000000\n")
        #expect(largest.auth.tokenCacheSize == 1_000_000)
    }

    @Test func outOfRangeAndMistypedValuesAreProblems() {
        let fixture = ConfigFixture()
        #expect(fixture.problems(Self.listen + Self.keys(1) + "auth:\n  token_cache_size: -1\n").map(\.description)
            == ["auth.token_cache_size (line 9): -1 is out of range; it must be between 0 and 1000000"])
        #expect(fixture.problems(Self.listen + Self.keys(1) + "auth:\n  token_cache_size: 1000001\n").map(\.description)
            == ["auth.token_cache_size (line 9): 1000001 is out of range; it must be between 0 and 1000000"])
        #expect(fixture.problems(Self.listen + Self.keys(1) + "auth:\n  try_all_keys: \"yes\"\n").map(\.description)
            == [#"auth.try_all_keys (line 9): expected true or false, got "yes""#])
    }

    /// Three keys allow HS256: the warning names them and the one a kid-less token is checked
    /// against; with try_all_keys it names the cost instead. Two keys of different algorithms
    /// would not warn.
    @Test func keysSharingAnAlgorithmWarn() throws {
        let bounded = try ConfigFixture().load(Self.listen + Self.keys(3, firstWithoutID: true))
        #expect(bounded.warnings == [
            #"3 keys allow HS256 (keys[0] (no id), "k2", "k3"); a token without kid is checked against keys[0] (no id) only (set auth.try_all_keys: true to try every one)"#,
        ])
        let all = try ConfigFixture().load(Self.listen + Self.keys(2) + "auth:\n  try_all_keys: true\n")
        #expect(all.warnings == [
            #"2 keys allow HS256 ("k1", "k2"); with auth.try_all_keys a token without kid is checked against each: 2 signature checks per forged token"#,
        ])
    }
}
