import ArgumentParser
import Logging

/// `--log-format json|text` and `--log-level`, shared by the long-running commands.
struct LoggingOptions: ParsableArguments {
    /// Output format of the gateway's own log (stdout).
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json
        case text
    }

    @Option(name: .long, help: "Log format: json or text.")
    var logFormat: Format = .text

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    /// Bootstraps swift-log once for the process and returns the gateway's logger.
    func bootstrap() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = logFormat
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format == .json ? .json : .text)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "wsgate")
        logger.logLevel = level
        return logger
    }
}
