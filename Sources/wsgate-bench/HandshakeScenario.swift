import ArgumentParser
import Histogram
import NIOCore

/// `wsgate-bench handshake`: C workers each connect, upgrade with a token, wait for the backend's
/// first message, close (client close frame, server closes TCP), and start again. Reports
/// completed handshakes per second and the latency from connect() to the first message.
struct HandshakeScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handshake",
        abstract: "Connect, upgrade with a token, receive the first message, close; rate and latency."
    )

    @OptionGroup var load: LoadOptions

    /// Handshakes in flight at once.
    @Option(help: "Handshakes in flight at once.")
    var concurrency: Int = 32

    /// Seconds measured.
    @Option(help: "Seconds measured.")
    var duration: Double = 10

    /// Stop after this many handshakes instead (the duration still caps).
    @Option(help: "Stop after this many completed handshakes (the duration still caps).")
    var count: Int?

    func run() async throws {
        let target = try load.target()
        let tokens = try load.makeTokens()
        let sources = try load.sources()
        let (concurrency, duration, count, pids) = (concurrency, duration, count, load.watchPIDs)
        let report = try await runOnLoop { (loop, promise: EventLoopPromise<LoadReport>) in
            let driver = HandshakeDriver(
                connector: LoadConnector(loop: loop, target: target, tokens: tokens, sources: sources),
                concurrency: concurrency, duration: duration, count: count, pids: pids, promise: promise
            )
            driver.start()
        }
        var final = report
        final.label = load.label
        final.url = load.url
        final.print(json: load.json)
    }
}

/// Runs the handshake loop on one event loop.
///
/// `@unchecked Sendable`: created and used only on the connector's single event loop; the
/// conformance lets NIO callbacks scheduled on that loop capture it.
final class HandshakeDriver: LoadDriver, @unchecked Sendable {
    private let connector: LoadConnector
    private let concurrency: Int
    private let duration: Double
    private let count: Int?
    private let promise: EventLoopPromise<LoadReport>
    private var samples: WindowSamples
    private var histogram = LatencySummary.histogram()
    private var upgradeHistogram = LatencySummary.histogram()
    private var completed = 0
    private var errors = 0
    private var inFlight = 0
    private var stopping = false
    private var finished = false
    private var live: [ObjectIdentifier: LoadConnection] = [:]

    init(connector: LoadConnector, concurrency: Int, duration: Double, count: Int?, pids: [Int32], promise: EventLoopPromise<LoadReport>) {
        self.connector = connector
        self.concurrency = concurrency
        self.duration = duration
        self.count = count
        self.promise = promise
        samples = WindowSamples(pids: pids)
    }

    func start() {
        samples.start()
        for _ in 0..<concurrency { launch() }
        connector.loop.scheduleTask(in: .nanoseconds(Int64(duration * 1e9))) { self.stop() }
    }

    private func stop() {
        guard !stopping else { return }
        stopping = true
        samples.end()
        if inFlight == 0 { finish() }
        // Stragglers get a short grace, then go.
        connector.loop.scheduleTask(in: .seconds(3)) { self.finish() }
    }

    private func launch() {
        guard !stopping else { return }
        inFlight += 1
        let (connection, future) = connector.connect(driver: self)
        live[ObjectIdentifier(connection)] = connection
        future.whenFailure { _ in
            guard self.live.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
            self.errors += 1
            self.inFlight -= 1
            // Back off a little on connect failures (e.g. port exhaustion) instead of spinning.
            self.connector.loop.scheduleTask(in: .milliseconds(10)) { self.launch() }
        }
    }

    func connection(_ connection: LoadConnection, received opcode: UInt8, bytes: Int) {
        guard !connection.greeted else { return }
        connection.greeted = true
        if !stopping {
            completed += 1
            histogram.record((nowNanos() &- connection.startedAt) / 1000)
            if let upgrade = connection.upgradeNanos { upgradeHistogram.record(upgrade / 1000) }
            if let count, completed >= count { stop() }
        }
        connection.sendClose()
    }

    func connection(_ connection: LoadConnection, refused status: Int) {
        errors += 1
    }

    func connectionReceivedClose(_ connection: LoadConnection) {
        // The server closes TCP after its close frame (RFC 6455 §7.1.1); sendClose() armed a
        // timeout in case it does not. A close before the greeting is an error.
        if !connection.greeted { errors += 1 }
        connection.sendClose()
    }

    func connectionClosed(_ connection: LoadConnection) {
        guard live.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
        inFlight -= 1
        if stopping {
            if inFlight == 0 { finish() }
        } else {
            launch()
        }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        for connection in live.values { connection.abort() }
        let seconds = samples.seconds
        promise.succeed(LoadReport(
            scenario: "handshake", label: "", url: "", concurrency: concurrency, messageBytes: nil,
            seconds: seconds, operations: completed, errors: errors,
            operationsPerSecond: Double(completed) / seconds, megabytesPerSecond: nil,
            latencyMicroseconds: LatencySummary(histogram), upgradeLatencyMicroseconds: LatencySummary(upgradeHistogram), client: samples.client,
            watched: samples.watched(operations: completed), idle: nil
        ))
    }
}
