import ArgumentParser
import Foundation
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
            var handler: LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "wsgate")
        logger.logLevel = level
        return logger
    }
}

/// One JSON object per line on stdout: time, level, message, metadata as string fields.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line = "{\"time\":\(JSONLogHandler.quote(ISO8601DateFormatter().string(from: Date()))),\"level\":\"\(event.level)\",\"msg\":\(JSONLogHandler.quote("\(event.message)"))"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line += ",\(JSONLogHandler.quote(key)):\(JSONLogHandler.quote("\(value)"))"
        }
        line += "}\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    private static func quote(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}
