import ArgumentParser
import Foundation
import NIOCore

/// `wsgate-bench storm`: a reconnect storm. Opens N connections (each upgraded, greeting
/// received), then drops every one at once, as clients do when a proxy restarts or a network
/// flaps, and reconnects all N at the given concurrency. Measured: the storm window, from the drop
/// to the last of the N greetings received again (the proxy closes N old pairs and relays N new
/// ones meanwhile); latency per reconnect is connect() → greeting.
struct StormScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storm",
        abstract: "Open N connections, drop them all at once, reconnect all N; time until all are relayed again."
    )

    @OptionGroup var load: LoadOptions

    /// Connections to open, drop and reopen.
    @Option(help: "Connections to open, drop and reconnect.")
    var connections: Int = 9000

    /// Connection attempts in flight at once, while opening and during the storm.
    @Option(help: "Connection attempts in flight at once.")
    var concurrency: Int = 1000

    func run() async throws {
        let target = try load.target()
        let tokens = try load.makeTokens()
        let sources = try load.sources()
        let (n, concurrency, pids) = (connections, concurrency, load.watchPIDs)
        var report = try await runOnLoop { (loop, promise: EventLoopPromise<LoadReport>) in
            StormDriver(
                connector: LoadConnector(loop: loop, target: target, tokens: tokens, sources: sources),
                count: n, concurrency: concurrency, pids: pids, promise: promise
            ).start()
        }
        report.label = load.label
        report.url = load.url
        report.print(json: load.json)
    }
}

/// Opens the connections, drops them, and times the reconnection of all of them.
///
/// `@unchecked Sendable`: created and used only on the connector's single event loop; the
/// conformance lets NIO callbacks scheduled on that loop capture it.
final class StormDriver: LoadDriver, @unchecked Sendable {
    private let connector: LoadConnector
    private let count: Int
    private let concurrency: Int
    private let promise: EventLoopPromise<LoadReport>
    private var samples: WindowSamples
    private var histogram = LatencySummary.histogram()
    private var connections: [LoadConnection] = []
    /// Counts of the current phase (opening, then the storm).
    private var attempts = 0
    private var greeted = 0
    private var failed = 0
    private var storming = false
    private var openingFailed = 0
    private var finished = false

    init(connector: LoadConnector, count: Int, concurrency: Int, pids: [Int32], promise: EventLoopPromise<LoadReport>) {
        self.connector = connector
        self.count = count
        self.concurrency = concurrency
        self.promise = promise
        samples = WindowSamples(pids: pids)
        connections.reserveCapacity(count)
    }

    func start() {
        for _ in 0..<min(concurrency, count) { connectOne() }
    }

    private func connectOne() {
        guard attempts < count else { return }
        attempts += 1
        let (connection, future) = connector.connect(driver: self)
        connections.append(connection)
        future.whenFailure { _ in self.fail(connection) }
    }

    private func progress() {
        connectOne()
        guard greeted + failed == count else { return }
        if storming {
            finish()
        } else {
            // Everyone is relayed: give the proxy a moment to settle, then drop them all.
            connector.loop.scheduleTask(in: .seconds(1)) { self.storm() }
        }
    }

    private func storm() {
        openingFailed = failed
        samples.start()
        // Every socket closed in one go, the way a restart or a flap drops them.
        let dropped = connections
        connections = []
        connections.reserveCapacity(count)
        (attempts, greeted, failed, storming) = (0, 0, 0, true)
        for connection in dropped {
            connection.settled = true
            connection.abort()
        }
        for _ in 0..<min(concurrency, count) { connectOne() }
    }

    func connection(_ connection: LoadConnection, received opcode: UInt8, bytes: Int) {
        guard !connection.greeted else { return }
        connection.greeted = true
        connection.settled = true
        greeted += 1
        if storming { histogram.record((nowNanos() &- connection.startedAt) / 1000) }
        progress()
    }

    func connection(_ connection: LoadConnection, refused status: Int) {
        fail(connection)
    }

    private func fail(_ connection: LoadConnection) {
        guard !connection.settled else { return }
        connection.settled = true
        failed += 1
        progress()
    }

    func connectionReceivedClose(_ connection: LoadConnection) {
        connection.sendClose()
    }

    func connectionClosed(_ connection: LoadConnection) {
        if !connection.greeted { fail(connection) }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        samples.end()
        for connection in connections {
            connection.settled = true
            connection.abort()
        }
        promise.succeed(LoadReport(
            scenario: "storm", label: "", url: "", concurrency: concurrency, messageBytes: nil,
            seconds: samples.seconds, operations: greeted, errors: failed + openingFailed,
            operationsPerSecond: Double(greeted) / max(samples.seconds, 1e-9), megabytesPerSecond: nil,
            latencyMicroseconds: LatencySummary(histogram), client: samples.client, watched: samples.watched(operations: greeted),
            idle: nil
        ))
    }
}
