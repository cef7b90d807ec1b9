import Atomics
import Foundation
import GatewayHandshake
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PostgresNIO

/// This instance's link to the cluster's PostgreSQL (SESSIONS.md "The cluster"), in the manner of
/// Kong's `cluster_events` and Centrifugo's PG controller: the event table is the truth, NOTIFY
/// only wakes the instance, and a poll by id watermark every `poll_interval` catches whatever a
/// notification or a reconnect missed.
///
/// Two connections: a dedicated one that does nothing but LISTEN (a pooled connection could be
/// handed to someone else and lose the subscription), and one for writes, polls and the heartbeat.
/// When either fails both are dropped, the bus reconnects with backoff, and a poll from the
/// watermark catches up. Handshakes never wait on it: they read the in-memory `RevocationStore`.
final class ClusterBus: Sendable {
    let configuration: ClusterConfiguration
    private let group: EventLoopGroup
    private let logger: Logger
    /// Applies what arrives (enforce or lift), on the bus's task; set by the gateway.
    private let applier = NIOLockedValueBox<(@Sendable ([ClusterEventLog.Action]) -> Void)?>(nil)
    private let log = NIOLockedValueBox(ClusterEventLog())
    /// The connection for writes and polls while the bus is connected.
    private let work = NIOLockedValueBox<PostgresConnection?>(nil)
    /// Why the bus is not connected (for the 503 answer), when it is not.
    private let problem = NIOLockedValueBox<String?>(nil)
    /// Unix seconds since when PostgreSQL is unreachable, as `Double` bits; 0 while connected.
    private let disconnectedSince = ManagedAtomic<UInt64>(0)
    /// Unix seconds of the last successful poll (everything up to then is applied).
    private let lastPoll = NIOLockedValueBox<Double>(0)
    private let runner = NIOLockedValueBox<Task<Void, Never>?>(nil)
    private let wake = NIOLockedValueBox<AsyncStream<Void>.Continuation?>(nil)
    private let nextConnectionID = ManagedAtomic<Int>(0)
    private let connectedGauge = Gauge(label: "wsgate_cluster_connected")
    private let lagGauge = Gauge(label: "wsgate_cluster_lag_seconds")
    /// The instance's row in `wsgate_instances`, set by `run`.
    private let identity = NIOLockedValueBox<(name: String, adminURL: String?, startedAt: Double)?>(nil)

    /// How long one query may take before the bus counts PostgreSQL as unreachable.
    static let queryTimeout: Double = 5
    /// Expired rows are pruned this often (by one instance at a time).
    static let pruneInterval: Double = 30

    init(configuration: ClusterConfiguration, group: EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// Sets what carries out the events that arrive (before `start`).
    func onActions(_ apply: @escaping @Sendable ([ClusterEventLog.Action]) -> Void) {
        applier.withLockedValue { $0 = apply }
    }

    private func apply(_ actions: [ClusterEventLog.Action]) {
        applier.withLockedValue { $0 }?(actions)
    }

    // MARK: - State

    /// Whether both connections are up and the last poll succeeded.
    var isConnected: Bool { disconnectedSince.load(ordering: .relaxed) == 0 }

    /// Whether new handshakes are refused `cluster_unavailable`: `stale_after` is set and
    /// PostgreSQL has been unreachable at least that long. Two loads; no lock, no I/O.
    func isStale(now: Double) -> Bool {
        let limit = configuration.staleAfterSeconds
        guard limit > 0 else { return false }
        let since = disconnectedSince.load(ordering: .relaxed)
        return since != 0 && now - Double(bitPattern: since) >= limit
    }

    /// Why PostgreSQL cannot be used now, or nil when it can.
    var unavailableReason: String? {
        isConnected ? nil : (problem.withLockedValue { $0 } ?? "not connected to PostgreSQL")
    }

    private func markConnected(now: Double) {
        lastPoll.withLockedValue { $0 = now }
        if disconnectedSince.exchange(0, ordering: .relaxed) != 0 {
            logger.notice("cluster: connected to PostgreSQL", metadata: ["postgres": "\(configuration.postgres)"])
        }
        problem.withLockedValue { $0 = nil }
        connectedGauge.record(1)
        lagGauge.record(0)
    }

    private func markDisconnected(_ error: any Error, now: Double) {
        let reason = ClusterBus.describe(error)
        work.withLockedValue { $0 = nil }
        problem.withLockedValue { $0 = reason }
        let (exchanged, _) = disconnectedSince.compareExchange(expected: 0, desired: now.bitPattern, ordering: .relaxed)
        if exchanged {
            logger.error("cluster: PostgreSQL unreachable; open sessions stay, revocations known so far stay in force", metadata: [
                "postgres": "\(configuration.postgres)", "problem": "\(reason)",
            ])
        }
        connectedGauge.record(0)
        recordLag(now: now)
    }

    private func recordLag(now: Double) {
        let last = lastPoll.withLockedValue { $0 }
        lagGauge.record(last > 0 ? max(0, now - last) : 0)
    }

    /// A PostgreSQL error in words, without the URL or the password: `PSQLError`'s own
    /// description hides everything on purpose, so the code and the server's message are picked.
    static func describe(_ error: any Error) -> String {
        if let error = error as? ClusterUnavailable { return error.reason }
        if let error = error as? PSQLError {
            var text = "PostgreSQL \(error.code)"
            if let message = error.serverInfo?[.message] { text += ": \(message)" }
            if let underlying = error.underlying { text += " (\(String(describing: underlying).prefix(200)))" }
            return text
        }
        if error is CancellationError { return "cancelled" }
        return String(String(describing: error).prefix(200))
    }

    // MARK: - Start

    /// Connects, creates the tables when missing, and applies every unexpired revocation: called
    /// before any listener opens, so a token revoked an hour ago is refused by an instance started
    /// a minute ago. Throws when PostgreSQL cannot be reached (the gateway does not start on a
    /// guess).
    func start(now: Double) async throws(ClusterUnavailable) {
        let connection: PostgresConnection
        do {
            connection = try await connect()
        } catch {
            throw ClusterUnavailable(reason: ClusterBus.describe(error))
        }
        do {
            try await deadline { try await self.installSchema(on: connection) }
            let (events, highest) = try await deadline { try await self.readAll(on: connection, now: now) }
            let actions = log.withLockedValue { $0.load(events, highestID: highest, now: now) }
            apply(actions)
            work.withLockedValue { $0 = connection }
            markConnected(now: now)
            logger.info("cluster: loaded revocations", metadata: ["events": "\(events.count)", "watermark": "\(highest)"])
        } catch {
            try? await connection.close()
            throw ClusterUnavailable(reason: ClusterBus.describe(error))
        }
    }

    /// Starts the background task: LISTEN, polls, heartbeats, pruning, reconnects.
    func run(instance: String, adminURL: String?, startedAt: Double) {
        identity.withLockedValue { $0 = (instance, adminURL, startedAt) }
        let task = Task { await self.loop() }
        runner.withLockedValue { $0 = task }
    }

    /// Stops the task, removes this instance from the registry (so listings stop asking it at
    /// once) and closes the connections.
    func shutdown() async {
        applier.withLockedValue { $0 = nil }  // the gateway holds the bus; the bus must not hold the gateway
        runner.withLockedValue { $0 }?.cancel()
        if let connection = work.withLockedValue({ $0 }), let name = identity.withLockedValue({ $0?.name }) {
            _ = try? await deadline(1) {
                _ = try await connection.query("DELETE FROM wsgate_instances WHERE name = \(name)", logger: self.logger)
            }
        }
        await runner.withLockedValue { $0 }?.value
        if let connection = work.withLockedValue({ $0 }) { try? await connection.close() }
        work.withLockedValue { $0 = nil }
    }

    // MARK: - Writes

    /// Writes a revocation (or its lift) for every instance, and NOTIFYs in the same statement.
    /// The caller applies it locally once this returns; the event coming back is not applied twice.
    /// An `amendment` (a revocation in force again, with token digests added) that fails to be
    /// written leaves what this instance applied as it is.
    func publish(_ revocation: Revocation, lifted: Bool, instance: String, amendment: Bool = false) async throws(ClusterUnavailable) {
        guard let connection = work.withLockedValue({ $0 }), isConnected else {
            throw ClusterUnavailable(reason: unavailableReason ?? "not connected to PostgreSQL")
        }
        log.withLockedValue { lifted ? $0.expectLift(revocation) : $0.expect(revocation) }
        let digests = revocation.tokenDigests.joined(separator: ",")
        let query: PostgresQuery = """
            WITH written AS (
                INSERT INTO wsgate_revocation_events
                    (revocation_id, lifted, kind, value, issued_before, until, reason, created_at, token_digests, instance)
                VALUES (\(revocation.id), \(lifted), \(revocation.kind.rawValue), \(revocation.value), \(revocation.issuedBefore),
                        \(revocation.until), \(revocation.reason), \(revocation.createdAt), \(digests), \(instance))
                RETURNING event_id
            )
            SELECT written.event_id FROM written
                CROSS JOIN LATERAL (SELECT pg_notify('wsgate_revocations', written.event_id::text)) AS notified
            """
        do {
            try await deadline {
                let rows = try await connection.query(query, logger: self.logger)
                for try await _ in rows {}
            }
        } catch {
            if !amendment { log.withLockedValue { $0.forget(revocation, lift: lifted) } }
            let reason = ClusterBus.describe(error)
            logger.error("cluster: could not write the revocation", metadata: ["revocation": "\(revocation.id)", "problem": "\(reason)"])
            throw ClusterUnavailable(reason: reason)
        }
    }

    /// The instances whose heartbeat is recent enough (`ClusterConfiguration.instanceAgeOutSeconds`,
    /// by PostgreSQL's clock, so instances' clocks need not agree).
    func liveInstances() async throws(ClusterUnavailable) -> [ClusterInstance] {
        guard let connection = work.withLockedValue({ $0 }), isConnected else {
            throw ClusterUnavailable(reason: unavailableReason ?? "not connected to PostgreSQL")
        }
        do {
            return try await deadline {
                let rows = try await connection.query(
                    "SELECT name, admin_url, started_at, heartbeat_at, extract(epoch from now())::float8 FROM wsgate_instances ORDER BY name",
                    logger: self.logger
                )
                var out: [ClusterInstance] = []
                for try await (name, adminURL, startedAt, heartbeat, now) in rows.decode((String, String?, Double, Double, Double).self) {
                    let instance = ClusterInstance(name: name, adminURL: adminURL, startedAt: startedAt, heartbeatAt: heartbeat)
                    if instance.isLive(now: now, ageOut: self.configuration.instanceAgeOutSeconds) { out.append(instance) }
                }
                return out
            }
        } catch {
            throw ClusterUnavailable(reason: ClusterBus.describe(error))
        }
    }

    // MARK: - The loop

    private func loop() async {
        var backoff = 0.25
        while !Task.isCancelled {
            var connection = work.withLockedValue { $0 }
            let pollBefore = lastPoll.withLockedValue { $0 }
            do {
                if connection == nil { connection = try await connect() }
                try await session(connection!)
            } catch {
                if Task.isCancelled { break }
                markDisconnected(error, now: Date().timeIntervalSince1970)
                if let connection { try? await connection.close() }
            }
            // A period that got as far as a poll was a connection, not an attempt: start over.
            if lastPoll.withLockedValue({ $0 }) > pollBefore { backoff = 0.25 }
            // Exponential backoff with jitter (0.25 s → 5 s), so instances do not reconnect in step.
            let pause = backoff * Double.random(in: 0.8...1.2)
            backoff = min(backoff * 2, 5)
            try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
            recordLag(now: Date().timeIntervalSince1970)
        }
    }

    /// One connected period: returns only by throwing (a connection failed) or on cancellation.
    private func session(_ connection: PostgresConnection) async throws {
        let (wakes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wake.withLockedValue { $0 = continuation }
        defer { continuation.finish() }
        let listener = configuration.listens ? try await connect() : nil
        do {
            try await serve(connection, listener: listener, wakes: wakes, continuation: continuation)
        } catch {
            // Closed and awaited here: a PostgresConnection must be closed before it is released.
            if let listener { try? await listener.close() }
            throw error
        }
        if let listener { try? await listener.close() }
    }

    private func serve(
        _ connection: PostgresConnection, listener: PostgresConnection?, wakes: AsyncStream<Void>,
        continuation: AsyncStream<Void>.Continuation
    ) async throws {
        try await deadline { try await self.installSchema(on: connection) }
        try await heartbeat(on: connection)
        work.withLockedValue { $0 = connection }
        continuation.yield()  // catch up from the watermark now
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let listener {
                group.addTask {
                    try await listener.listen(on: ClusterSchema.channel) { notifications in
                        // Subscribed: anything written from now on wakes us; catch up on the rest.
                        continuation.yield()
                        for try await _ in notifications { continuation.yield() }
                    }
                    throw ClusterUnavailable(reason: "the LISTEN connection ended")
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(nanoseconds: UInt64(self.configuration.pollIntervalSeconds * 1e9))
                    continuation.yield()
                }
            }
            group.addTask {
                var lastHeartbeat = Date().timeIntervalSince1970
                var lastPrune = 0.0
                for await _ in wakes {
                    let now = Date().timeIntervalSince1970
                    try await self.poll(on: connection, now: now)
                    // Half the interval: a tick that runs a little early must not skip a beat.
                    if now - lastHeartbeat >= self.configuration.pollIntervalSeconds / 2 {
                        try await self.heartbeat(on: connection)
                        lastHeartbeat = now
                    }
                    if now - lastPrune >= ClusterBus.pruneInterval {
                        try await self.prune(on: connection, now: now)
                        lastPrune = now
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Reads every event after the watermark (oldest gap first) and applies what is new.
    private func poll(on connection: PostgresConnection, now: Double) async throws {
        while true {
            let after = log.withLockedValue { $0.pollAfter }
            let events = try await deadline { try await self.read(on: connection, after: after) }
            let actions = log.withLockedValue { log -> [ClusterEventLog.Action] in
                let actions = log.receive(events, now: now)
                log.prune(now: now)
                return actions
            }
            if !actions.isEmpty { apply(actions) }
            if events.count < ClusterBus.pageSize { break }
        }
        markConnected(now: now)
    }

    /// Events read per query.
    static let pageSize = 1000

    private static let columns =
        "event_id, revocation_id, lifted, kind, value, issued_before, until, reason, created_at, token_digests"

    private func read(on connection: PostgresConnection, after: Int64) async throws -> [ClusterEvent] {
        let rows = try await connection.query(
            "SELECT \(unescaped: ClusterBus.columns) FROM wsgate_revocation_events WHERE event_id > \(after) ORDER BY event_id LIMIT \(unescaped: String(ClusterBus.pageSize))",
            logger: logger
        )
        return try await events(rows)
    }

    private func readAll(on connection: PostgresConnection, now: Double) async throws -> ([ClusterEvent], Int64) {
        let rows = try await connection.query(
            "SELECT \(unescaped: ClusterBus.columns) FROM wsgate_revocation_events WHERE until > \(now) ORDER BY event_id",
            logger: logger
        )
        let events = try await self.events(rows)
        var highest: Int64 = 0
        for try await value in try await connection.query("SELECT coalesce(max(event_id), 0)::int8 FROM wsgate_revocation_events", logger: logger)
            .decode(Int64.self) { highest = value }
        return (events, highest)
    }

    private func events(_ rows: PostgresRowSequence) async throws -> [ClusterEvent] {
        var out: [ClusterEvent] = []
        for try await (eventID, id, lifted, kind, value, issuedBefore, until, reason, createdAt, digests)
            in rows.decode((Int64, String, Bool, String, String, Double?, Double, String, Double, String).self) {
            // A kind a newer release wrote is skipped, not guessed at.
            guard let kind = Revocation.Kind(rawValue: kind), RevocationID.isValid(id) else {
                logger.warning("cluster: skipped an event this release cannot read", metadata: ["event": "\(eventID)"])
                continue
            }
            let revocation = Revocation(
                id: id, kind: kind, value: value, issuedBefore: issuedBefore, until: until, reason: reason, createdAt: createdAt,
                tokenDigests: digests.isEmpty ? [] : digests.split(separator: ",").map(String.init)
            )
            out.append(ClusterEvent(eventID: eventID, revocation: revocation, lifted: lifted))
        }
        return out
    }

    private func heartbeat(on connection: PostgresConnection) async throws {
        guard let (name, adminURL, startedAt) = identity.withLockedValue({ $0 }) else { return }
        try await deadline {
            _ = try await connection.query("""
                INSERT INTO wsgate_instances (name, admin_url, started_at, heartbeat_at)
                VALUES (\(name), \(adminURL), \(startedAt), extract(epoch from now())::float8)
                ON CONFLICT (name) DO UPDATE SET admin_url = excluded.admin_url, started_at = excluded.started_at,
                    heartbeat_at = excluded.heartbeat_at
                """, logger: self.logger)
        }
    }

    /// Deletes expired events and long-dead instances; `pg_try_advisory_xact_lock` lets one
    /// instance at a time do it (the others skip), and the lock ends with the statement's
    /// transaction.
    private func prune(on connection: PostgresConnection, now: Double) async throws {
        try await deadline {
            try await connection.query("""
                WITH lock AS (SELECT pg_try_advisory_xact_lock(\(ClusterSchema.pruneLock)) AS held)
                DELETE FROM wsgate_revocation_events WHERE until < \(now) AND (SELECT held FROM lock)
                """, logger: self.logger)
            try await connection.query("""
                WITH lock AS (SELECT pg_try_advisory_xact_lock(\(ClusterSchema.pruneLock)) AS held)
                DELETE FROM wsgate_instances WHERE heartbeat_at < \(now - 86_400) AND (SELECT held FROM lock)
                """, logger: self.logger)
        }
    }

    /// Creates the tables when `wsgate_schema` does not show version 1, in one transaction under
    /// an advisory lock (instances starting together wait for the first). A newer version than
    /// this release knows is refused: its tables may mean something else.
    private func installSchema(on connection: PostgresConnection) async throws {
        let existing = try await schemaVersion(on: connection)
        if let existing, existing > ClusterSchema.version {
            throw ClusterUnavailable(reason: "the database has wsgate schema version \(existing); this release knows \(ClusterSchema.version)")
        }
        guard existing != ClusterSchema.version else { return }
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_xact_lock(\(ClusterSchema.schemaLock))", logger: logger)
            for statement in ClusterSchema.statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
            logger.notice("cluster: created the wsgate tables", metadata: ["version": "\(ClusterSchema.version)"])
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private func schemaVersion(on connection: PostgresConnection) async throws -> Int? {
        var exists = false
        for try await value in try await connection.query("SELECT to_regclass('wsgate_schema') IS NOT NULL", logger: logger)
            .decode(Bool.self) { exists = value }
        guard exists else { return nil }
        var version: Int?
        for try await value in try await connection.query("SELECT max(version)::int8 FROM wsgate_schema", logger: logger)
            .decode(Int64?.self) { version = value.map(Int.init) }
        return version
    }

    // MARK: - Connections

    /// Opens a connection (TLS as the URL's `sslmode` says); `connect --check` uses it too.
    func connect() async throws -> PostgresConnection {
        try await ClusterBus.connect(
            to: configuration.postgres, on: group.next(), id: nextConnectionID.wrappingIncrementThenLoad(ordering: .relaxed), logger: logger
        )
    }

    /// Opens a connection to `url`.
    static func connect(to url: PostgresURL, on eventLoop: EventLoop, id: Int, logger: Logger) async throws -> PostgresConnection {
        let tls: PostgresConnection.Configuration.TLS
        switch url.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls
        )
        configuration.options.connectTimeout = .seconds(5)
        return try await PostgresConnection.connect(on: eventLoop, configuration: configuration, id: id, logger: logger)
    }

    /// Runs `work`, or throws `ClusterUnavailable` after `seconds` (a query on a connection whose
    /// server vanished without a reset would otherwise wait for TCP to give up).
    private func deadline<T: Sendable>(_ seconds: Double = ClusterBus.queryTimeout, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                throw ClusterUnavailable(reason: "PostgreSQL did not answer within \(Int(seconds)) s")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

/// PostgreSQL cannot be used now: `POST /sessions/revoke` answers 503 with the reason.
public struct ClusterUnavailable: Error, Sendable, CustomStringConvertible {
    /// What failed, without secrets.
    public let reason: String

    /// Creates the error.
    public init(reason: String) { self.reason = reason }

    public var description: String { "cluster unavailable: \(reason)" }
}
