import ArgumentParser
import Histogram
import NIOCore

/// `wsgate-bench echo`: C connections, each doing request/response round trips of S-byte binary
/// messages (one in flight per connection). Reports round trips per second and their latency.
struct EchoScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "C connections doing round trips of S-byte messages; rate and latency."
    )

    @OptionGroup var load: LoadOptions

    /// Connections.
    @Option(help: "Connections.")
    var concurrency: Int = 100

    /// Payload bytes per message.
    @Option(help: "Payload bytes per message.")
    var size: Int = 64

    /// Seconds measured (after every connection is open).
    @Option(help: "Seconds measured, after every connection is open.")
    var duration: Double = 10

    /// Text messages shaped like an application's JSON (`{"type":"message",…}`) instead of binary.
    @Flag(help: "Send text messages shaped like application JSON ({\"type\":\"message\",…}) instead of binary ones.")
    var text = false

    func run() async throws {
        let report = try await MessageDriver.run(
            scenario: "echo", load: load, concurrency: concurrency, size: size, window: 1, duration: duration, text: text
        )
        report.print(json: load.json)
    }
}

/// Opens C connections, waits for every greeting, then keeps `window` messages in flight on
/// each for the measured window.
///
/// `@unchecked Sendable`: created and used only on the connector's single event loop; the
/// conformance lets NIO callbacks scheduled on that loop capture it.
final class MessageDriver: LoadDriver, @unchecked Sendable {
    private let connector: LoadConnector
    private let scenario: String
    private let concurrency: Int
    private let size: Int
    private let window: Int
    private let duration: Double
    private let text: Bool
    private let promise: EventLoopPromise<LoadReport>
    private var samples: WindowSamples
    private var histogram = LatencySummary.histogram()
    private var connections: [LoadConnection] = []
    private var ready = 0
    private var failed = 0
    private var completed = 0
    private var bytes = 0
    private var errors = 0
    private var measuring = false
    private var stopping = false
    private var finished = false
    private var open = 0

    /// Runs one scenario and returns its report.
    static func run(
        scenario: String, load: LoadOptions, concurrency: Int, size: Int, window: Int, duration: Double, text: Bool = false
    ) async throws -> LoadReport {
        let target = try load.target()
        let tokens = try load.makeTokens()
        let sources = try load.sources()
        let pids = load.watchPIDs
        var report = try await runOnLoop { (loop, promise: EventLoopPromise<LoadReport>) in
            MessageDriver(
                connector: LoadConnector(loop: loop, target: target, tokens: tokens, sources: sources), scenario: scenario,
                concurrency: concurrency, size: size, window: window, duration: duration, text: text, pids: pids, promise: promise
            ).start()
        }
        report.label = load.label
        report.url = load.url
        return report
    }

    private init(
        connector: LoadConnector, scenario: String, concurrency: Int, size: Int, window: Int, duration: Double, text: Bool,
        pids: [Int32], promise: EventLoopPromise<LoadReport>
    ) {
        self.text = text
        self.connector = connector
        self.scenario = scenario
        self.concurrency = concurrency
        self.size = size
        self.window = window
        self.duration = duration
        self.promise = promise
        samples = WindowSamples(pids: pids)
    }

    private func start() {
        // Connect at most 256 at a time so a large C does not overrun the listen backlog.
        for _ in 0..<min(concurrency, 256) { connectOne() }
        connector.loop.scheduleTask(in: .seconds(30)) {
            if !self.measuring && !self.finished { self.beginWindow() }
        }
    }

    private func connectOne() {
        guard connections.count < concurrency else { return }
        let (connection, future) = connector.connect(driver: self)
        connections.append(connection)
        open += 1
        future.whenFailure { _ in
            self.open -= 1
            self.fail(connection)
        }
    }

    private func checkReady() {
        if ready + failed >= concurrency && !measuring { beginWindow() }
    }

    private func beginWindow() {
        guard !measuring else { return }
        measuring = true
        errors += failed
        let allocator = ByteBufferAllocator()
        samples.start()
        for connection in connections where connection.greeted && connection.isOpen {
            connection.frame = text
                ? ClientFrame.masked(opcode: ClientFrame.text, payloadSize: size, payload: MessageDriver.jsonText(size), allocator: allocator)
                : ClientFrame.masked(opcode: ClientFrame.binary, payloadSize: size, allocator: allocator)
            connection.inFlight.reserveCapacity(window * 2)
            for _ in 0..<window { send(on: connection) }
        }
        connector.loop.scheduleTask(in: .nanoseconds(Int64(duration * 1e9))) { self.stop() }
    }

    /// `{"type":"message","body":"xxx…"}` cut or padded to `size` bytes: what a refresh route's
    /// interceptor meets in practice (it reads up to the first byte that differs from its marker).
    static func jsonText(_ size: Int) -> [UInt8] {
        var bytes = Array(#"{"type":"message","body":""#.utf8)
        while bytes.count < size - 2 { bytes.append(UInt8(ascii: "x")) }
        bytes += Array(#""}"#.utf8)
        return Array(bytes.prefix(size))
    }

    private func send(on connection: LoadConnection) {
        if connection.inFlightHead > 1024 {
            connection.inFlight.removeFirst(connection.inFlightHead)
            connection.inFlightHead = 0
        }
        connection.inFlight.append(nowNanos())
        connection.send(connection.frame!)
    }

    private func stop() {
        stopping = true
        samples.end()
        for connection in connections { connection.sendClose(timeout: .seconds(2)) }
        connector.loop.scheduleTask(in: .seconds(3)) { self.finish() }
        if open == 0 { finish() }
    }

    func connection(_ connection: LoadConnection, received opcode: UInt8, bytes: Int) {
        guard connection.greeted else {
            connection.greeted = true
            connection.settled = true
            ready += 1
            connectOne()
            checkReady()
            return
        }
        guard measuring, !stopping, connection.inFlightHead < connection.inFlight.count else { return }
        let sentAt = connection.inFlight[connection.inFlightHead]
        connection.inFlightHead += 1
        if bytes != size { errors += 1 }
        completed += 1
        self.bytes += bytes
        histogram.record((nowNanos() &- sentAt) / 1000)
        send(on: connection)
    }

    func connection(_ connection: LoadConnection, refused status: Int) {
        fail(connection)
    }

    private func fail(_ connection: LoadConnection) {
        guard !connection.settled else { return }
        connection.settled = true
        failed += 1
        connectOne()
        checkReady()
    }

    func connectionReceivedClose(_ connection: LoadConnection) {
        if !stopping { errors += 1 }
        connection.sendClose()
    }

    func connectionClosed(_ connection: LoadConnection) {
        open -= 1
        if !connection.greeted && !measuring {
            fail(connection)
        } else if !stopping && measuring {
            errors += 1
        }
        if stopping && open == 0 { finish() }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        if !stopping { samples.end() }
        for connection in connections { connection.abort() }
        let seconds = samples.seconds
        promise.succeed(LoadReport(
            scenario: scenario, label: "", url: "", concurrency: concurrency, messageBytes: size,
            seconds: seconds, operations: completed, errors: errors,
            operationsPerSecond: Double(completed) / seconds,
            megabytesPerSecond: Double(bytes) / seconds / 1e6,
            latencyMicroseconds: LatencySummary(histogram), client: samples.client,
            watched: samples.watched(operations: completed), idle: nil
        ))
    }
}
