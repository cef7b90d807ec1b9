import ArgumentParser
import Foundation
import NIOCore

/// `wsgate-bench idle`: opens N connections (each upgraded, greeting received), holds them
/// silent, then checks that every one is still open and still echoes. With `--watch-pid` the
/// proxy's RSS is sampled before and once all are open, giving RSS per connection.
struct IdleScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Open and hold N connections; report how many stayed up and still echo.",
        discussion: "A process may hold ~19,900 sockets here (hard limit 20,000 descriptors); run several processes with different --source-addresses for more."
    )

    @OptionGroup var load: LoadOptions

    /// Connections to open.
    @Option(help: "Connections to open.")
    var connections: Int = 1000

    /// Connection attempts in flight at once while opening.
    @Option(help: "Connection attempts in flight while opening.")
    var concurrency: Int = 200

    /// Seconds to hold them silent.
    @Option(help: "Seconds to hold the connections silent.")
    var hold: Double = 10

    /// Written (with the open count) once every connection is open, for scripts to wait on.
    @Option(name: .customLong("ready-file"), help: "File written once every connection is open (scripts wait on it).")
    var readyFile: String?

    func run() async throws {
        let target = try load.target()
        let tokens = try load.makeTokens()
        let sources = try load.sources()
        let (n, concurrency, hold, readyFile, pids) = (connections, concurrency, hold, readyFile, load.watchPIDs)
        var report = try await runOnLoop { (loop, promise: EventLoopPromise<LoadReport>) in
            IdleDriver(
                connector: LoadConnector(loop: loop, target: target, tokens: tokens, sources: sources),
                count: n, concurrency: concurrency, hold: hold, readyFile: readyFile, pids: pids, promise: promise
            ).start()
        }
        report.label = load.label
        report.url = load.url
        report.print(json: load.json)
    }
}

/// Opens, holds and probes the idle connections.
///
/// `@unchecked Sendable`: created and used only on the connector's single event loop; the
/// conformance lets NIO callbacks scheduled on that loop capture it.
final class IdleDriver: LoadDriver, @unchecked Sendable {
    private let connector: LoadConnector
    private let count: Int
    private let concurrency: Int
    private let hold: Double
    private let readyFile: String?
    private let pids: [Int32]
    private let promise: EventLoopPromise<LoadReport>
    private var samples: WindowSamples
    private var connections: [LoadConnection] = []
    private var attempts = 0
    private var opened = 0
    private var failed = 0
    private var openedAt: UInt64 = 0
    private var startedAt: UInt64 = 0
    private var rssBefore: Int?
    private var rssOpen: Int?
    private var probing = false
    private var echoing = 0
    private var stillOpen = 0
    private var finished = false
    private let probeFrame = ClientFrame.masked(opcode: ClientFrame.binary, payloadSize: 16, allocator: ByteBufferAllocator())

    init(
        connector: LoadConnector, count: Int, concurrency: Int, hold: Double, readyFile: String?, pids: [Int32],
        promise: EventLoopPromise<LoadReport>
    ) {
        self.connector = connector
        self.count = count
        self.concurrency = concurrency
        self.hold = hold
        self.readyFile = readyFile
        self.pids = pids
        self.promise = promise
        samples = WindowSamples(pids: pids)
    }

    func start() {
        rssBefore = pids.first.flatMap { ProcessSample.of(pid: $0)?.rssKiB }
        startedAt = nowNanos()
        samples.start()
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
        guard opened + failed == count, openedAt == 0 else { return }
        openedAt = nowNanos()
        samples.end()
        // Let the proxy settle (buffers released after the greeting) before sampling RSS.
        connector.loop.scheduleTask(in: .seconds(1)) {
            self.rssOpen = self.pids.first.flatMap { ProcessSample.of(pid: $0)?.rssKiB }
            if let readyFile = self.readyFile {
                try? "\(self.opened)\n".write(toFile: readyFile, atomically: true, encoding: .utf8)
            }
            self.connector.loop.scheduleTask(in: .nanoseconds(Int64(self.hold * 1e9))) { self.probe() }
        }
    }

    private func probe() {
        probing = true
        for connection in connections where connection.greeted && connection.isOpen {
            stillOpen += 1
            connection.send(probeFrame)
        }
        connector.loop.scheduleTask(in: .seconds(10)) { self.finish() }
        if stillOpen == 0 { finish() }
    }

    func connection(_ connection: LoadConnection, received opcode: UInt8, bytes: Int) {
        if !connection.greeted {
            connection.greeted = true
            connection.settled = true
            opened += 1
            progress()
        } else if probing {
            echoing += 1
            if echoing == stillOpen { finish() }
        }
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
        // Closed before its greeting: a failure (counted once, whatever the path).
        if !connection.greeted { fail(connection) }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        for connection in connections { connection.abort() }
        let openSeconds = Double(openedAt &- startedAt) / 1e9
        var perConnection: Double?
        if let rssBefore, let rssOpen, opened > 0 { perConnection = Double(rssOpen - rssBefore) / Double(opened) }
        promise.succeed(LoadReport(
            scenario: "idle", label: "", url: "", concurrency: concurrency, messageBytes: nil,
            seconds: samples.seconds, operations: opened, errors: failed,
            operationsPerSecond: Double(opened) / max(openSeconds, 1e-9), megabytesPerSecond: nil,
            latencyMicroseconds: nil, client: samples.client, watched: samples.watched(operations: opened),
            idle: IdleFigures(
                requested: count, opened: opened, failed: failed, openSeconds: openSeconds,
                openPerSecond: Double(opened) / max(openSeconds, 1e-9), holdSeconds: hold,
                stillOpen: stillOpen, echoing: echoing, watchedRSSKiBBefore: rssBefore,
                watchedRSSKiBOpen: rssOpen, watchedRSSKiBPerConnection: perConnection
            )
        ))
    }
}
