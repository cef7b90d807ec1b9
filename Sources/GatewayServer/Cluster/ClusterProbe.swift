import GatewayHandshake
import Logging
import NIOPosix
import PostgresNIO

/// `wsgate check --connect`: connects to the cluster's PostgreSQL once, reads the schema
/// version, and says what `serve` would find; creates nothing.
public enum ClusterProbe {
    /// One line: `PostgreSQL postgres://…: reachable, wsgate schema version 1` (or "no wsgate
    /// tables yet: serve creates them"); throws with the reason when it cannot connect.
    public static func check(_ configuration: ClusterConfiguration) async throws(ClusterUnavailable) -> String {
        let logger = Logger(label: "wsgate.cluster.check")
        do {
            let connection = try await ClusterBus.connect(
                to: configuration.postgres, on: MultiThreadedEventLoopGroup.singleton.next(), id: 1, logger: logger
            )
            do {
                let answer = try await describe(connection, configuration: configuration, logger: logger)
                try? await connection.close()
                return answer
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw ClusterUnavailable(reason: ClusterBus.describe(error))
        }
    }

    private static func describe(_ connection: PostgresConnection, configuration: ClusterConfiguration, logger: Logger) async throws -> String {
        do {
            var exists = false
            for try await value in try await connection.query("SELECT to_regclass('wsgate_schema') IS NOT NULL", logger: logger)
                .decode(Bool.self) { exists = value }
            guard exists else { return "PostgreSQL \(configuration.postgres): reachable, no wsgate tables yet (serve creates them)" }
            var version: Int64?
            for try await value in try await connection.query("SELECT max(version)::int8 FROM wsgate_schema", logger: logger)
                .decode(Int64?.self) { version = value }
            let known = version.map { $0 <= Int64(ClusterSchema.version) } ?? true
            return "PostgreSQL \(configuration.postgres): reachable, wsgate schema version \(version.map(String.init) ?? "none")"
                + (known ? "" : " (newer than this release's \(ClusterSchema.version): serve will refuse it)")
        }
    }
}
