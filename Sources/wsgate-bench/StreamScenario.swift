import ArgumentParser

/// `wsgate-bench stream`: large binary messages pushed back to back, `window` in flight per
/// connection. The echo backend returns each message, so every payload byte crosses the proxy
/// once each way; MB/s counts the payload received back (10^6 bytes).
struct StreamScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Large messages back to back (window in flight); MB/s.",
        discussion: "With `wsgate echo-backend` each message comes back, so the proxy carries it both ways; MB/s is the payload received back per second."
    )

    @OptionGroup var load: LoadOptions

    /// Connections.
    @Option(help: "Connections.")
    var concurrency: Int = 1

    /// Payload bytes per message.
    @Option(help: "Payload bytes per message.")
    var size: Int = 1 << 20

    /// Messages in flight per connection.
    @Option(help: "Messages in flight per connection.")
    var window: Int = 4

    /// Seconds measured.
    @Option(help: "Seconds measured, after every connection is open.")
    var duration: Double = 10

    func run() async throws {
        let report = try await MessageDriver.run(
            scenario: "stream", load: load, concurrency: concurrency, size: size, window: max(1, window), duration: duration
        )
        report.print(json: load.json)
    }
}
