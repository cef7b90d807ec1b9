import ArgumentParser
import Foundation
import GatewayConfig
import GatewayHandshake
import GatewayOperations
import GatewayServer
import GatewayText

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `wsgate rejections`: reads the rejection log (the live file and its rotated siblings), filters
/// it, and prints the lines as a table, as JSON lines, or a summary; `--follow` keeps printing new
/// rejections, across rotation.
///
/// The reading, filtering and counting live in `RejectionLogReader`, `RejectionFilter`,
/// `RejectionLogFollower` and `RejectionSummary` (GatewayOperations); this command only turns options
/// into those and prints.
struct RejectionsCommand: AsyncParsableCommand {
    /// Command name and help.
    static let configuration = CommandConfiguration(
        commandName: "rejections",
        abstract: "Read the rejection log: filtered lines, or a summary by reason, route and client.",
        discussion: """
            Reads FILE.1 (or FILE.1.gz) and then FILE by default; --rotated reads every rotated \
            sibling (FILE.N, FILE.N.gz, FILE-DATE.gz), oldest first; --current-only only FILE. \
            Filters combine with "and"; a repeated filter (--reason a --reason b) matches either. \
            Corrupt or truncated lines are reported on standard error with their file and line \
            number and skipped.

            The table's ROUTE is the route pattern, or the request path in parentheses when no \
            route matched; times are UTC, as written.

            Examples:
              wsgate rejections --config wsgate.yaml --since 1h --summary
              wsgate rejections --log rejections.jsonl --reason token_expired
              wsgate rejections --log rejections.jsonl --client 10.1.0.0/16 --follow
              wsgate rejections --log rejections.jsonl --rotated --json \\
                  --from 2026-11-25T09:00Z --to 2026-11-25T10:00Z
            """
    )

    /// The log file.
    @Option(name: .long, help: ArgumentHelp("The rejection log (- for standard input).", valueName: "file"))
    var log: String?

    /// A config whose `rejection_log.path` names the log.
    @Option(name: .long, help: ArgumentHelp("Read the log named by this config's rejection_log (instead of --log).", valueName: "file"))
    var config: String?

    /// A span back from now.
    @Option(name: .long, help: ArgumentHelp("Only rejections in this span back from now (30s, 10m, 2h, 1d, 1h30m), or since an RFC 3339 time.", valueName: "span"))
    var since: String?

    /// The earliest time.
    @Option(name: .long, help: ArgumentHelp("Only rejections at or after this time (2026-11-25T15:30:00Z, 2026-11-25).", valueName: "time"))
    var from: String?

    /// The end time (exclusive).
    @Option(name: .long, help: ArgumentHelp("Only rejections before this time.", valueName: "time"))
    var to: String?

    /// Reason codes.
    @Option(name: .long, help: ArgumentHelp("Only this reason code (repeatable, or comma-separated).", valueName: "reason"))
    var reason: [String] = []

    /// HTTP statuses.
    @Option(name: .long, help: ArgumentHelp("Only this HTTP status (repeatable).", valueName: "status"))
    var status: [Int] = []

    /// Routes or paths.
    @Option(name: .long, help: ArgumentHelp("Only this route pattern or request path; a trailing * matches a prefix (repeatable).", valueName: "path"))
    var route: [String] = []

    /// Clients.
    @Option(name: .long, help: ArgumentHelp("Only this client: ip, ip:port, [v6]:port or a CIDR block (repeatable).", valueName: "addr"))
    var client: [String] = []

    /// Subjects.
    @Option(name: .long, help: ArgumentHelp("Only this token subject (repeatable).", valueName: "sub"))
    var sub: [String] = []

    /// Token fingerprints.
    @Option(name: .customLong("token-fp"), help: ArgumentHelp("Only this token fingerprint, or a prefix of it (repeatable).", valueName: "hex"))
    var tokenFingerprint: [String] = []

    /// Summary instead of lines.
    @Flag(name: .long, help: "Print counts by reason, status and route, the top clients and subjects, and first/last seen.")
    var summary = false

    /// Keep printing.
    @Flag(name: .long, help: "After the existing lines, keep printing new rejections (survives rotation). Stop with Ctrl-C.")
    var follow = false

    /// JSON output.
    @Flag(name: .long, help: "Print matching lines as JSON lines (with --summary: the summary as one JSON object).")
    var json = false

    /// Only the most recent N.
    @Option(name: .long, help: ArgumentHelp("Only the last N matching lines (with --follow: of the existing ones; default 10 then).", valueName: "n"))
    var limit: Int?

    /// Rows of the client and subject tables.
    @Option(name: .long, help: ArgumentHelp("Rows in the summary's client and subject tables.", valueName: "n"))
    var top = 10

    /// Every rotated sibling.
    @Flag(name: .long, help: "Read every rotated sibling (FILE.N, FILE.N.gz), oldest first, not only FILE.1.")
    var rotated = false

    /// Only the live file.
    @Flag(name: .customLong("current-only"), help: "Read only FILE, no rotated sibling.")
    var currentOnly = false

    /// Checks option combinations and reason codes before any file is opened.
    func validate() throws {
        if since != nil, from != nil { throw ValidationError("--since and --from both set the start; give one") }
        if log != nil, config != nil { throw ValidationError("--log and --config both name the log; give one") }
        if log == nil, config == nil {
            throw ValidationError("give the log with --log FILE, or a config with --config FILE (its rejection_log.path is read)")
        }
        if rotated, currentOnly { throw ValidationError("--rotated and --current-only contradict each other") }
        if follow, summary { throw ValidationError("--follow prints lines; it cannot be combined with --summary") }
        if summary, limit != nil { throw ValidationError("--limit bounds printed lines; for the summary's tables use --top") }
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more") }
        if top < 1 { throw ValidationError("--top must be at least 1") }
        let unknown = reasons.filter { Rejection(reason: $0) == nil }
        if !unknown.isEmpty {
            let valid = Rejection.allCases.map(\.reason).joined(separator: ", ")
            throw ValidationError("unknown reason code\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); valid codes: \(valid)")
        }
        _ = try makeFilter(now: Date())
    }

    /// `--reason a,b --reason c` as `[a, b, c]`.
    private var reasons: [String] {
        reason.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The filter the options describe; `now` anchors `--since`.
    func makeFilter(now: Date) throws -> RejectionFilter {
        var filter = RejectionFilter()
        if let since {
            guard let start = RejectionFilter.start(since: since, now: now) else {
                throw ValidationError("--since \(since): give a span (30s, 10m, 2h, 1d) or an RFC 3339 time")
            }
            filter.from = start
        }
        if let from {
            guard let time = RFC3339.epochMilliseconds(from) else {
                throw ValidationError("--from \(from): give an RFC 3339 time (2026-11-25T15:30:00Z) or a date (2026-11-25)")
            }
            filter.from = time
        }
        if let to {
            guard let time = RFC3339.epochMilliseconds(to) else {
                throw ValidationError("--to \(to): give an RFC 3339 time (2026-11-25T15:30:00Z) or a date (2026-11-25)")
            }
            filter.to = time
        }
        if let start = filter.from, let end = filter.to, end <= start {
            throw ValidationError("--to is not after the start; the range is empty")
        }
        for client in client where client.contains("/") && CIDRBlock(client) == nil {
            throw ValidationError("--client \(client) is not a CIDR block (10.0.0.0/8, 2001:db8::/32)")
        }
        filter.reasons = Set(reasons)
        filter.statuses = Set(status)
        filter.routes = route
        filter.clients = client
        filter.subjects = sub
        filter.tokenFingerprints = tokenFingerprint
        return filter
    }

    /// Reads, filters and prints.
    func run() async throws {
        let path = try logPath()
        let filter = try makeFilter(now: Date())
        let output = StandardOutput()
        var problems = ProblemReport()
        let rotation: RejectionLogRotation = currentOnly || path == "-" ? .none : rotated ? .all : .latest
        var files = RejectionLogFile.files(for: path, rotation: rotation)

        if follow {
            if path == "-" || path.hasSuffix(".gz") { throw ValidationError("--follow needs the live log file, not standard input or a compressed file") }
            files.removeLast()  // the follower reads the live file itself
            try await runFollowing(path: path, olderFiles: files, filter: filter, output: output, problems: &problems)
            return
        }

        let reader = RejectionLogReader()
        var counts = RejectionSummary()
        var recent = RecentWindow<RejectionRecord>(capacity: limit)
        var lines = 0
        var matched = 0
        let opened = reader.read(files) { event in
            switch event {
            case .record(let record):
                lines += 1
                guard filter.matches(record) else { return }
                matched += 1
                if summary {
                    counts.add(record)
                } else if limit != nil {
                    recent.append(record)
                } else {
                    if matched == 1, !json { output.write(Self.tableHeader) }
                    output.write(self.render(record))
                }
            case .problem(let problem):
                problems.report(problem)
            case .caughtUp:
                break
            }
        }
        let last = recent.elements
        if !last.isEmpty, !json { output.write(Self.tableHeader) }
        for record in last { output.write(render(record)) }
        if summary {
            output.write(json ? counts.json(top: top) + "\n" : counts.text(top: top))
        }
        output.flush()
        problems.finish()
        // Nothing could be opened at all: that is an error, not an empty result.
        if opened == 0 { throw ExitCode.failure }
        if matched == 0, !summary {
            Self.printToStandardError("no matching rejections (\(lines) line\(lines == 1 ? "" : "s") read from \(opened) file\(opened == 1 ? "" : "s"))")
        }
    }

    /// Prints the older files and the live file's last lines, then every new matching line.
    private func runFollowing(path: String, olderFiles: [RejectionLogFile], filter: RejectionFilter,
                              output: StandardOutput, problems: inout ProblemReport) async throws {
        var recent = RecentWindow<RejectionRecord>(capacity: limit ?? 10)
        let reader = RejectionLogReader()
        reader.read(olderFiles) { event in
            switch event {
            case .record(let record): if filter.matches(record) { recent.append(record) }
            case .problem(let problem): problems.report(problem)
            case .caughtUp: break
            }
        }
        if !json { output.write(Self.tableHeader) }
        var live = false
        for await event in RejectionLogFollower(path: path) {
            switch event {
            case .record(let record):
                guard filter.matches(record) else { continue }
                if live {
                    output.write(render(record))
                    output.flush()
                } else {
                    recent.append(record)
                }
            case .problem(let problem):
                output.flush()
                problems.report(problem)
            case .caughtUp:
                live = true
                // From here on every problem is news: show each, however many came before.
                problems.unlimited = true
                for record in recent.elements { output.write(render(record)) }
                recent = RecentWindow<RejectionRecord>(capacity: 0)
                output.flush()
            }
        }
    }

    /// The log path: `--log`, or the config's `rejection_log`.
    private func logPath() throws -> String {
        if let log { return log }
        guard let config else { throw ValidationError("give --log FILE or --config FILE") }
        let configuration: GatewayConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: config)
        } catch {
            for problem in error.problems { Self.printToStandardError(problem.description) }
            Self.printToStandardError("\(config): does not load; give the log with --log FILE instead")
            throw ExitCode(2)
        }
        switch configuration.rejectionLog.destination {
        case .file(let path):
            return path
        case .standardError:
            Self.printToStandardError("\(config): rejection_log goes to standard error (\"-\" or unset), not to a file; read the gateway's standard error, or set rejection_log.path")
            throw ExitCode.failure
        case .disabled:
            Self.printToStandardError("\(config): rejection_log is disabled; the admin /rejections endpoint still has the most recent ones")
            throw ExitCode.failure
        }
    }

    // MARK: Rendering

    /// The table's column headings.
    static let tableHeader = row("TIME", "STATUS", "REASON", "ROUTE", "CLIENT", "SUB", "DETAIL")

    /// One line of output for a record: a table row, or its JSON line.
    private func render(_ record: RejectionRecord) -> String {
        if json { return record.jsonLine() + "\n" }
        let printable = RejectionSummary.printable
        return Self.row(
            printable(record.time), String(record.status), printable(record.reason),
            printable(record.route ?? record.path.map { "(\($0))" } ?? "-"),
            printable(record.client ?? "-"), printable(record.sub ?? "-"), printable(record.detail ?? ""))
    }

    /// Fixed minimum widths, so that a streamed table lines up without knowing every row first;
    /// a longer value pushes its row to the right instead of being cut.
    private static func row(_ time: String, _ status: String, _ reason: String, _ route: String,
                            _ client: String, _ sub: String, _ detail: String) -> String {
        var line = ""
        line.reserveCapacity(160)
        func column(_ text: String, _ width: Int) {
            line += text
            line += String(repeating: " ", count: max(1, width - text.count + 1))
        }
        column(time, 24)
        column(status, 6)
        column(reason, 21)
        column(route, 16)
        column(client, 21)
        column(sub, 12)
        line += detail
        // No trailing spaces when the detail is empty.
        while line.last == " " { line.removeLast() }
        return line + "\n"
    }

    /// Writes one line to standard error (kept in this file so the command builds on its own).
    fileprivate static func printToStandardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Problems on standard error: the first ones in full, then only counted, so a badly damaged file
/// does not bury the output.
private struct ProblemReport {
    /// Problems printed in full before the rest are only counted.
    static let shownLimit = 20
    /// Problems so far.
    var count = 0
    /// Show every problem (following live: each one is news).
    var unlimited = false

    /// Prints (or counts) one problem.
    mutating func report(_ problem: RejectionLogProblem) {
        count += 1
        if unlimited || count <= Self.shownLimit {
            RejectionsCommand.printToStandardError(problem.description)
        } else if count == Self.shownLimit + 1 {
            RejectionsCommand.printToStandardError("(further problems are only counted)")
        }
    }

    /// Prints the total when some were only counted.
    func finish() {
        if count > Self.shownLimit {
            RejectionsCommand.printToStandardError("\(count) lines or files skipped in all")
        }
    }
}

/// Standard output through a 64 KiB buffer: a million `print` calls would each take a lock and
/// make a system call.
private final class StandardOutput {
    private var buffer: [UInt8] = []

    /// An empty buffer.
    init() {
        buffer.reserveCapacity(1 << 16)
    }

    deinit {
        flush()
    }

    /// Appends `text`, writing out when the buffer is full.
    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes out everything buffered; exits quietly when the reader has gone (EPIPE).
    func flush() {
        if let failure = DescriptorWriter.writeAll(buffer, to: 1) {
            // The reader went away (`| head`): nothing more to say to anyone.
            exit(failure == EPIPE ? 0 : 1)
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
