import GatewayConfig
import GatewayHandshake
import Testing

/// `cluster:` (SESSIONS.md "The cluster"): the URL only from the environment or a file, checked
/// without connecting, the defaults, and one exact problem for each mistake.
@Suite struct ClusterConfigTests {
    static let url = "postgres://gw:pa%40ss@db.example:6543/wsgate?sslmode=require"
    static let environment = ConfigFixture.environment.merging(["WSGATE_POSTGRES_URL": url]) { $1 }

    @Test func readsTheURLFromTheEnvironmentWithDefaults() throws {
        let config = try ConfigFixture().load(minimalYAML("cluster:\n  postgres:\n    url_env: WSGATE_POSTGRES_URL\n"), environment: Self.environment)
        let cluster = try #require(config.cluster)
        #expect(cluster.postgres == PostgresURL(host: "db.example", port: 6543, user: "gw", password: "pa@ss", database: "wsgate", tls: .require))
        #expect(cluster.pollIntervalSeconds == 1)
        #expect(cluster.staleAfterSeconds == 0)
        #expect(cluster.instance == nil)
        #expect(cluster.listens)
        // Three polls, but never under 10 s.
        #expect(cluster.instanceAgeOutSeconds == 10)
        // The password is never shown.
        #expect(cluster.postgres.description == "postgres://gw@db.example:6543/wsgate")
        #expect(!config.summary.contains("pa@ss") && config.summary.contains("cluster postgres://gw@db.example:6543/wsgate"))
    }

    @Test func readsEveryKeyAndTheURLFromAFile() throws {
        let fixture = ConfigFixture()
        fixture.write("pg.url", "postgresql://gw@127.0.0.1/db\n")
        let config = try fixture.load(minimalYAML("""
            cluster:
              postgres: {url_file: pg.url}
              instance: gw-7
              poll_interval: 5s
              stale_after: 30s
              admin_url: http://10.0.0.7:9090/
            """), environment: ConfigFixture.environment.merging(["WSGATE_CLUSTER_NOTIFY": "off"]) { $1 })
        let cluster = try #require(config.cluster)
        #expect(cluster.postgres == PostgresURL(host: "127.0.0.1", port: 5432, user: "gw", password: nil, database: "db", tls: .prefer))
        #expect(cluster.instance == "gw-7")
        #expect(cluster.pollIntervalSeconds == 5)
        #expect(cluster.staleAfterSeconds == 30)
        #expect(cluster.adminURL == "http://10.0.0.7:9090")
        #expect(!cluster.listens)
        #expect(cluster.instanceAgeOutSeconds == 15)
    }

    @Test(arguments: [
        ("cluster:\n  postgres:\n    url: postgres://u:p@h/d\n",
         "cluster.postgres.url (line 10): the URL holds a password: give url_env (a variable's name) or url_file (a file's path) instead"),
        ("cluster:\n  postgres:\n    url_env: MISSING\n", "cluster.postgres.url_env (line 10): environment variable MISSING is not set"),
        ("cluster:\n  postgres:\n    url_env: BAD_SCHEME\n", "cluster.postgres.url_env (line 10): the PostgreSQL URL must start with postgres:// or postgresql://"),
        ("cluster:\n  postgres:\n    url_env: NO_USER\n", "cluster.postgres.url_env (line 10): the PostgreSQL URL names no user (postgres://USER:PASSWORD@host/db)"),
        ("cluster:\n  postgres:\n    url_env: BAD_SSL\n", "cluster.postgres.url_env (line 10): the PostgreSQL URL has sslmode=maybe; use disable, prefer or require"),
        ("cluster:\n  postgres:\n    url_env: WSGATE_POSTGRES_URL\n    url_file: x\n", "cluster.postgres.url_env (line 10): give url_env or url_file, not both"),
        ("cluster:\n  instance: gw-1\n", "cluster.postgres (line 9): is required (postgres: {url_env: WSGATE_POSTGRES_URL} or {url_file: …})"),
        ("cluster:\n  postgres: {url_env: WSGATE_POSTGRES_URL}\n  poll_interval: 10ms\n", "cluster.poll_interval (line 10): must be at least 50ms"),
        ("cluster:\n  postgres: {url_env: WSGATE_POSTGRES_URL}\n  stale_after: -1s\n", "cluster.stale_after (line 10): must not be negative"),
        ("cluster:\n  postgres: {url_env: WSGATE_POSTGRES_URL}\n  admin_url: http://h:1/api\n", "cluster.admin_url (line 10): must be an http:// or https:// URL without a path, e.g. http://10.0.0.5:9090"),
        ("cluster:\n  postgres: {url_env: WSGATE_POSTGRES_URL}\n  leader: true\n", "cluster.leader (line 10): unknown key \"leader\""),
    ])
    func refusesEachMistakeWithOneExactProblem(yaml: String, expected: String) throws {
        let environment = Self.environment.merging([
            "BAD_SCHEME": "mysql://u:p@h/d", "NO_USER": "postgres://h:5432/d", "BAD_SSL": "postgres://u@h/d?sslmode=maybe",
        ]) { $1 }
        let problems = ConfigFixture().problems(minimalYAML(yaml), environment: environment)
        #expect(problems.map(\.description) == [expected])
        // A problem never quotes the URL's password.
        #expect(!problems.contains { $0.description.contains("pa%40ss") || $0.description.contains(":p@") })
    }
}
