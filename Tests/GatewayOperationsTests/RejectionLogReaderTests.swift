import Foundation
@testable import GatewayOperations
import GatewayHandshake
import GatewayText
import Testing

/// The rejection log's reading side (`wsgate rejections`): the line parser against the writer,
/// filters, summary numbers, damaged lines, rotated files, and following across rotation — all with
/// real files in a temporary directory.
@Suite struct RejectionLogReaderTests {
    // MARK: Fixtures

    /// A record at `millis` after 2026-11-25T00:00:00Z with the given fields.
    static func record(
        at millis: Int64, reason: String = "token_expired", status: Int = 401, route: String? = "/ws/chat",
        path: String? = "/ws/chat", client: String? = "203.0.113.7:53422", sub: String? = "alice",
        detail: String? = nil, tokenFP: String? = nil
    ) -> RejectionRecord {
        RejectionRecord(
            time: RejectionRecord.timestamp(Date(timeIntervalSince1970: Double(base + millis) / 1000)),
            status: status, reason: reason, route: route, path: path, client: client, detail: detail,
            sub: sub, token_fp: tokenFP)
    }

    /// 2026-11-25T00:00:00Z in milliseconds.
    static let base: Int64 = 1_795_564_800_000

    /// A fresh temporary directory, removed by `body`'s end.
    static func withDirectory<T>(_ body: (String) async throws -> T) async rethrows -> T {
        let path = NSTemporaryDirectory() + "wsgate-rejections-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(path)
    }

    /// Replaces the file at `path` with `text`.
    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Appends `text` to the file at `path`, as the gateway's `O_APPEND` writes do.
    static func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// The records as the gateway writes them: one `jsonLine()` and a newline each.
    static func lines(_ records: [RejectionRecord]) -> String {
        records.map { $0.jsonLine() + "\n" }.joined()
    }

    /// Compresses `path` to `path.gz` with the system's gzip and removes the original, as logrotate does.
    static func gzip(_ path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-f", path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// Everything `files` yield, split into records and problems.
    static func readAll(_ files: [RejectionLogFile]) -> (records: [RejectionRecord], problems: [RejectionLogProblem]) {
        var records: [RejectionRecord] = []
        var problems: [RejectionLogProblem] = []
        RejectionLogReader().read(files) { event in
            switch event {
            case .record(let record): records.append(record)
            case .problem(let problem): problems.append(problem)
            case .caughtUp: break
            }
        }
        return (records, problems)
    }

    // MARK: Writer → reader

    /// Values a log can really hold: quotes and backslashes in paths, control characters from
    /// headers, U+2028 (escaped by the writer), accents, CJK, emoji outside the BMP, empty strings.
    static let awkwardTexts = [
        "plain", "", "quote \" and backslash \\ and slash /", "line\nbreak\rreturn\ttab",
        "bell \u{07} nul \u{00} del \u{7F} esc \u{1B}[31m", "separators \u{2028} \u{2029}",
        "café naïve", "東京 ⚡︎", "emoji 🎉👩‍👩‍👧 𝄞", "\\u0041 is not an escape here", "}{\",:[]",
    ]

    @Test("every record jsonLine() writes reads back equal, through the hand parser and through JSONDecoder",
          arguments: awkwardTexts)
    func roundTrip(text: String) throws {
        let original = RejectionRecord(
            time: "2026-11-25T15:30:01.123Z", status: 401, reason: "token_expired", route: "/ws/\(text)",
            path: text, client: "[2001:db8::1]:443", detail: "expired 42 s ago: \(text)", kid: text,
            iss: "https://auth.example.com/\(text)", sub: text, token_fp: "9f86d081884c", request_id: text)
        let line = original.jsonLine()
        #expect(!line.contains("\n"))
        #expect(try RejectionLogReader.record(fromLine: line) == original)
        #expect(try JSONDecoder().decode(RejectionRecord.self, from: Data(line.utf8)) == original)
    }

    @Test("absent fields stay absent")
    func roundTripMinimal() throws {
        let original = RejectionRecord(time: "2026-11-25T15:30:01.123Z", status: 404, reason: "route_not_found")
        #expect(try RejectionLogReader.record(fromLine: original.jsonLine()) == original)
    }

    /// Lines another JSON writer could produce: any key order, unknown keys of any type, spaces,
    /// `null`, escaped keys, `\/`, `\u` escapes and surrogate pairs. The hand parser must agree
    /// with Foundation's JSONDecoder on each.
    static let foreignLines = [
        #"{"reason":"token_expired","status":401,"time":"2026-11-25T15:30:01.123Z"}"#,
        #"  { "time" : "2026-11-25T15:30:01.123Z" , "status" : 401 , "reason" : "token_expired" }  "#,
        #"{"time":"t","status":401,"reason":"r","extra":{"nested":[1,2.5e3,-0.1,true,false,null,{"a":"b\"}"}]},"n":-12,"b":true}"#,
        #"{"time":"t","status":401,"reason":"r","sub":null,"route":null}"#,
        #"{"time":"t","status":401,"reason":"r","su\u0062":"bob","path":"\/ws\/chat"}"#,
        #"{"time":"t","status":401,"reason":"r","detail":"\u00e9\u6771\ud83c\udf89\u0000\b\f"}"#,
        #"{"time":"t","status":401,"reason":"r","status":403}"#,
        #"{"time":"t","status":401,"reason":"r","future_field":"x","sub":"a"}"#,
        #"{"time":"t","status":-1,"reason":"r","client":"10.0.0.1:1"}"#,
    ]

    @Test("the hand parser tolerates key order, unknown keys and escapes, and agrees with JSONDecoder",
          arguments: foreignLines)
    func foreignLine(line: String) throws {
        let expected = try JSONDecoder().decode(RejectionRecord.self, from: Data(line.utf8))
        #expect(try RejectionLogReader.record(fromLine: line) == expected)
    }

    /// Lines that are not records, and what the parser must say about each.
    static let damagedLines: [(String, RejectionLineError?)] = [
        (#"{"time":"2026-11-25T15:30:01.123Z","status":401,"reason":"tok"#, .truncated),
        (#"{"time":"2026-11-25T15:30:01.123Z","status":401"#, .truncated),
        (#"{"time":"2026-11-25T15:30:01.123Z","sta"#, .truncated),
        (#"{"time":"t","status":4"#, .truncated),
        (#"{"time":"t","status":401,"reason":"r","x":nu"#, .truncated),
        (#"{"time":"t","status":401,"reason":"r","x":[1,"#, .truncated),
        (#"{"time":"t","status":401,"reason":"r","detail":"\u00"#, .truncated),
        ("{", .truncated),
        ("not json at all", nil),
        ("[]", nil),
        (#"{"status":401,"reason":"r"}"#, .corrupt("no \"time\"")),
        (#"{"time":"t","reason":"r"}"#, .corrupt("no \"status\"")),
        (#"{"time":"t","status":401}"#, .corrupt("no \"reason\"")),
        (#"{"time":"t","status":"401","reason":"r"}"#, nil),
        (#"{"time":"t","status":401.5,"reason":"r"}"#, nil),
        (#"{"time":1,"status":401,"reason":"r"}"#, nil),
        (#"{"time":"t","status":401,"reason":"r"} trailing"#, nil),
        (#"{"time":"t","status":401,"reason":"r"}{"time":"t","status":401,"reason":"r"}"#, nil),
        (#"{"time":"t","status":401,"reason":"r",}"#, nil),
        (#"{"time":"t","status":401,"reason":"r","detail":"\ud800"}"#, nil),
        (#"{"time":"t","status":401,"reason":"r","detail":"\q"}"#, nil),
        ("{\"time\":\"t\",\"status\":401,\"reason\":\"r\",\"detail\":\"raw\ttab\"}", nil),
        (#"{"time":"t","status":401,"reason":"r","x":tru}"#, nil),
        (#"{"time":"t","status":401,"reason":"r","x":01x}"#, nil),
    ]

    @Test("damaged lines are refused with the right kind of error", arguments: 0..<damagedLines.count)
    func damagedLine(index: Int) {
        let (line, expected) = Self.damagedLines[index]
        do {
            let record = try RejectionLogReader.record(fromLine: line)
            Issue.record("accepted \(line) as \(record)")
        } catch {
            if let expected {
                #expect(error == expected, "\(line)")
            } else if case .truncated = error {
                Issue.record("\(line) called truncated; it is corrupt")
            }
            // Whatever the error, JSONDecoder must not read a record from it either (except for a
            // trailing comma, which it forgives and RFC 8259 does not).
            if !line.hasSuffix(",}") {
                #expect(throws: (any Error).self) { try JSONDecoder().decode(RejectionRecord.self, from: Data(line.utf8)) }
            }
        }
    }

    @Test("invalid UTF-8 inside a string is corrupt, not mangled")
    func invalidUTF8() {
        var bytes = Array(#"{"time":"t","status":401,"reason":"r","sub":"a"#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#""}"#.utf8)
        #expect(throws: RejectionLineError.corrupt("a string is not UTF-8")) {
            try bytes.withUnsafeBufferPointer { bytes throws(RejectionLineError) in try RejectionLogReader.record(fromLine: bytes) }
        }
    }

    // MARK: Times

    @Test("the writer's stamps read back to the same millisecond")
    func times() {
        // RFC3339Tests holds the grammar's table; this pins the writer and the filter together.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let millis = Int64.random(in: 0..<4_102_444_800_000, using: &generator)
            let text = RejectionRecord.timestamp(Date(timeIntervalSince1970: Double(millis) / 1000))
            let back = RFC3339.epochMilliseconds(text)
            #expect(back.map { abs($0 - millis) <= 1 } == true, "\(text) \(millis)")
        }
    }

    @Test("--since: a span back from now (DurationText's grammar, 1d included) or an RFC 3339 time")
    func since() {
        let now = Date(timeIntervalSince1970: Double(Self.base) / 1000 + 86_400)
        #expect(RejectionFilter.start(since: "10m", now: now) == Self.base + 86_400_000 - 600_000)
        #expect(RejectionFilter.start(since: "1d", now: now) == Self.base)
        #expect(RejectionFilter.start(since: "1h30m", now: now) == Self.base + 86_400_000 - 5_400_000)
        #expect(RejectionFilter.start(since: "500ms", now: now) == Self.base + 86_400_000 - 500)
        #expect(RejectionFilter.start(since: "2026-11-25T00:30:00Z", now: now) == Self.base + 1_800_000)
        #expect(RejectionFilter.start(since: "-1h", now: now) == nil)
        #expect(RejectionFilter.start(since: "soon", now: now) == nil)
        #expect(RejectionFilter.start(since: "10 parsecs", now: now) == nil)
    }

    // MARK: Filters

    /// One record a minute for an hour, with reasons, routes, clients and subjects in turn.
    static let hour: [RejectionRecord] = (0..<60).map { minute in
        let reasons = ["token_expired", "signature_invalid", "route_not_found", "rate_limited"]
        let reason = reasons[minute % 4]
        return record(
            at: Int64(minute) * 60_000, reason: reason,
            status: reason == "route_not_found" ? 404 : reason == "rate_limited" ? 429 : 401,
            route: reason == "route_not_found" ? nil : minute % 3 == 0 ? "/ws/rooms/*" : "/ws/chat",
            path: reason == "route_not_found" ? "/probe/\(minute)" : minute % 3 == 0 ? "/ws/rooms/r\(minute)" : "/ws/chat",
            client: minute % 5 == 0 ? "[2001:db8::a\(minute % 2)]:4\(minute)" : "10.0.\(minute % 2).\(minute % 7):5\(minute)",
            sub: minute % 4 == 0 ? "alice" : minute % 4 == 1 ? "bob" : nil,
            tokenFP: String(format: "%012x", minute * 1_000_003))
    }

    /// The minutes of `hour` that `filter` keeps.
    static func minutes(_ filter: RejectionFilter) -> [Int] {
        hour.enumerated().filter { filter.matches($0.element) }.map(\.offset)
    }

    @Test("--since with a fixed now, --from and --to (half-open)")
    func timeFilters() {
        var filter = RejectionFilter()
        let now = Date(timeIntervalSince1970: Double(Self.base + 60 * 60_000) / 1000)  // 01:00
        filter.from = RejectionFilter.start(since: "10m", now: now)
        #expect(Self.minutes(filter) == Array(50..<60))
        filter = RejectionFilter()
        filter.from = RFC3339.epochMilliseconds("2026-11-25T00:15:00Z")
        filter.to = RFC3339.epochMilliseconds("2026-11-25T00:20:00Z")
        #expect(Self.minutes(filter) == Array(15..<20))
        filter.from = nil
        #expect(Self.minutes(filter) == Array(0..<20))
        // A record whose time cannot be read never matches a time bound.
        #expect(!filter.matches(RejectionRecord(time: "garbage", status: 401, reason: "token_expired")))
        #expect(RejectionFilter().matches(RejectionRecord(time: "garbage", status: 401, reason: "token_expired")))
    }

    @Test("--reason, --status, --route (pattern, path, prefix), --sub, --token-fp")
    func fieldFilters() {
        var filter = RejectionFilter()
        filter.reasons = ["token_expired", "rate_limited"]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 4 == 0 || $0 % 4 == 3 })
        filter = RejectionFilter()
        filter.statuses = [404]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 4 == 2 })
        filter = RejectionFilter()
        filter.routes = ["/ws/rooms/*"]
        let rooms = (0..<60).filter { $0 % 4 != 2 && $0 % 3 == 0 }
        #expect(Self.minutes(filter) == rooms)
        filter.routes = ["/ws/rooms/r12"]
        #expect(Self.minutes(filter) == [12])
        filter.routes = ["/probe/*"]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 4 == 2 })
        filter.routes = ["/ws/chat", "/probe/6"]
        #expect(Self.minutes(filter) == (0..<60).filter { ($0 % 4 != 2 && $0 % 3 != 0) || $0 == 6 })
        filter = RejectionFilter()
        filter.subjects = ["bob"]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 4 == 1 })
        filter = RejectionFilter()
        filter.tokenFingerprints = [String(format: "%012x", 7 * 1_000_003).prefix(9).uppercased()]
        #expect(Self.minutes(filter) == [7])
        filter.reasons = ["token_expired"]
        #expect(Self.minutes(filter).isEmpty, "conditions combine with and")
    }

    @Test("--client: ip:port, ip (any port), [v6]:port, v6, CIDR blocks")
    func clientFilters() {
        var filter = RejectionFilter()
        filter.clients = ["10.0.1.3"]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 5 != 0 && $0 % 2 == 1 && $0 % 7 == 3 })
        filter.clients = ["10.0.1.3:517"]
        #expect(Self.minutes(filter) == [17])
        filter.clients = ["10.0.1.3:1"]
        #expect(Self.minutes(filter).isEmpty)
        filter.clients = ["10.0.1.0/24"]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 5 != 0 && $0 % 2 == 1 })
        filter.clients = ["2001:db8::a1"]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 5 == 0 && $0 % 2 == 1 })
        filter.clients = ["[2001:DB8:0::A0]"]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 10 == 0 }, "IPv6 compared as addresses, not spellings")
        filter.clients = ["[2001:db8::a0]:410"]
        #expect(Self.minutes(filter) == [10])
        filter.clients = ["2001:db8::/32", "10.0.0.0/24"]
        #expect(Self.minutes(filter) == (0..<60).filter { $0 % 5 == 0 || $0 % 2 == 0 })
    }

    // MARK: Summary

    @Test("summary numbers on a generated log match counts made independently")
    func summaryNumbers() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            var records: [RejectionRecord] = []
            let reasons = ["token_expired", "signature_invalid", "route_not_found", "rate_limited", "claim_forbidden"]
            for i in 0..<5000 {
                let reason = reasons[(i * 7 + i / 3) % 5]
                records.append(Self.record(
                    at: Int64(i) * 1500 + 17, reason: reason, status: reason == "route_not_found" ? 404 : 401,
                    route: reason == "route_not_found" ? nil : ["/ws/chat", "/ws/rooms/*"][i % 2],
                    client: "198.51.100.\(i % 13):\(10_000 + i)", sub: i % 4 == 0 ? nil : "user-\(i % 11)"))
            }
            try Self.write(Self.lines(records), to: path)
            var summary = RejectionSummary()
            let (read, problems) = Self.readAll(RejectionLogFile.files(for: path))
            #expect(problems.isEmpty)
            for record in read { summary.add(record) }

            #expect(summary.total == 5000)
            #expect(summary.byReason == Dictionary(grouping: records, by: \.reason).mapValues(\.count))
            #expect(summary.byStatus == [401: records.filter { $0.status == 401 }.count, 404: records.filter { $0.status == 404 }.count])
            #expect(summary.byRoute == Dictionary(grouping: records, by: { $0.route ?? "-" }).mapValues(\.count))
            #expect(summary.byClient.count == 13)
            #expect(summary.byClient["198.51.100.0"] == (0..<5000).filter { $0 % 13 == 0 }.count)
            #expect(summary.bySubject.values.reduce(0, +) == 5000 - 1250)
            #expect(summary.bySubject["user-3"] == (0..<5000).filter { $0 % 4 != 0 && $0 % 11 == 3 }.count)
            #expect(summary.firstSeen == records.first?.time)
            #expect(summary.lastSeen == records.last?.time)
            #expect(summary.spanSeconds.map { abs($0 - 4999 * 1.5) < 0.002 } == true)

            let top = RejectionSummary.ranked(summary.byClient, limit: 3)
            #expect(top.map(\.key) == ["198.51.100.0", "198.51.100.1", "198.51.100.2"], "ties by name")
            #expect(top.map(\.count) == [385, 385, 385])
            let text = summary.text(top: 3)
            #expect(text.hasPrefix("5000 rejections, \(records.first!.time) to \(records.last!.time) (2h 4m)\n"))
            #expect(text.contains("client (top 3 of 13)"))
            let json = try JSONSerialization.jsonObject(with: Data(summary.json(top: 3).utf8)) as? [String: Any]
            #expect(json?["total"] as? Int == 5000)
            #expect((json?["by_reason"] as? [String: Int]) == summary.byReason)
            #expect((json?["top_clients"] as? [[String: Any]])?.count == 3)
        }
    }

    @Test("summary text shows control characters escaped")
    func summaryPrintable() {
        var summary = RejectionSummary()
        summary.add(Self.record(at: 0, sub: "evil\u{1B}[2J"))
        #expect(summary.text().contains("evil\\u001b[2J"))
        #expect(!summary.text().contains("\u{1B}"))
    }

    // MARK: Damaged files

    @Test("corrupt and truncated lines are reported with file and line number, and skipped")
    func damagedFile() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            let good = [Self.record(at: 1), Self.record(at: 2), Self.record(at: 3), Self.record(at: 4)]
            let text = good[0].jsonLine() + "\n"                                 // 1
                + "garbage from a crashed editor\n"                              // 2
                + "\n"                                                           // 3: blank, silent
                + good[1].jsonLine() + "\r\n"                                    // 4: CRLF is fine
                + String(good[2].jsonLine().prefix(40)) + "\n"                   // 5: cut mid-line
                + good[2].jsonLine() + "\n"                                      // 6
                + #"{"time":"t","status":401}"# + "\n"                           // 7: no reason
                + good[3].jsonLine() + "\n"                                      // 8
                + String(good[0].jsonLine().prefix(25))                          // 9: cut at the end
            try Self.write(text, to: path)
            let (records, problems) = Self.readAll([RejectionLogFile(path: path)])
            #expect(records == good)
            #expect(problems.map(\.line) == [2, 5, 7, 9])
            #expect(problems.allSatisfy { $0.file == path })
            #expect(problems[0].description.hasPrefix("\(path):2: corrupt line"))
            #expect(problems[1].description == "\(path):5: truncated line (ends inside the JSON object); skipped")
            #expect(problems[2].message.contains("no \"reason\""))
            #expect(problems[3].message.hasPrefix("truncated"))
        }
    }

    @Test("a line longer than the read buffer, and lines split across reads, parse")
    func longLines() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            let long = Self.record(at: 5, detail: String(repeating: "é\"x", count: RejectionLogReader.chunkSize))
            let many = (0..<20_000).map { Self.record(at: Int64($0), detail: "n=\($0)") }
            try Self.write(Self.lines([long] + many + [long]), to: path)
            let (records, problems) = Self.readAll([RejectionLogFile(path: path)])
            #expect(problems.isEmpty)
            #expect(records == [long] + many + [long])
        }
    }

    @Test("a file without newlines is not held in memory whole: an overlong line is skipped")
    func overlongLine() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            let good = Self.record(at: 1)
            var bytes = Data(Self.lines([good]).utf8)
            bytes.append(Data(repeating: 0x41, count: RejectionLineScanner.maxLineBytes + 3 * RejectionLogReader.chunkSize))
            bytes.append(Data(("\n" + Self.lines([good])).utf8))
            try bytes.write(to: URL(fileURLWithPath: path))
            let (records, problems) = Self.readAll([RejectionLogFile(path: path)])
            #expect(records == [good, good])
            #expect(problems.map(\.line) == [2])
            #expect(problems.first?.message.contains("longer than 16 MiB") == true)
        }
    }

    @Test("a missing file is a problem, not a crash")
    func missingFile() {
        let (records, problems) = Self.readAll([RejectionLogFile(path: "/nonexistent/rejections.jsonl")])
        #expect(records.isEmpty)
        #expect(problems.count == 1 && problems[0].line == nil && problems[0].message.hasPrefix("cannot open"))
    }

    // MARK: Rotation

    @Test("rotated siblings are found and read oldest first: .3.gz, .2.gz, .1, live")
    func rotation() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            let records = (0..<40).map { Self.record(at: Int64($0) * 1000, detail: "#\($0)") }
            // logrotate with delaycompress: .1 plain, older ones compressed.
            for (index, suffix) in [".3", ".2", ".1", ""].enumerated() {
                try Self.write(Self.lines(Array(records[index * 10..<(index + 1) * 10])), to: path + suffix)
            }
            try Self.gzip(path + ".3")
            try Self.gzip(path + ".2")
            try Self.write("unrelated\n", to: directory + "/rejections.jsonl.bak")
            try Self.write("unrelated\n", to: directory + "/other.jsonl.1")

            let all = RejectionLogFile.files(for: path, rotation: .all)
            #expect(all.map(\.path) == [path + ".3.gz", path + ".2.gz", path + ".1", path])
            #expect(all.map(\.isCompressed) == [true, true, false, false])
            let read = Self.readAll(all)
            #expect(read.problems.isEmpty)
            #expect(read.records == records)

            #expect(RejectionLogFile.files(for: path).map(\.path) == [path + ".1", path])
            #expect(Self.readAll(RejectionLogFile.files(for: path)).records == Array(records[20...]))
            #expect(RejectionLogFile.files(for: path, rotation: .none).map(\.path) == [path])
            // Naming one compressed file reads just that one, decompressed.
            #expect(RejectionLogFile.files(for: path + ".2.gz") == [RejectionLogFile(path: path + ".2.gz", isCompressed: true)])
            #expect(Self.readAll(RejectionLogFile.files(for: path + ".2.gz")).records == Array(records[10..<20]))

            // While logrotate compresses .1 both exist for a moment; the plain one is complete.
            try Self.write(Self.lines(Array(records[20..<25])), to: path + ".1.gz")
            #expect(RejectionLogFile.files(for: path, rotation: .latest).map(\.path) == [path + ".1", path])
        }
    }

    @Test("dateext siblings sort by date; a damaged .gz yields its good lines and a problem")
    func dateextAndDamagedGzip() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            let records = (0..<3000).map { Self.record(at: Int64($0), detail: "#\($0) " + String(repeating: "x", count: $0 % 50)) }
            try Self.write(Self.lines(Array(records[0..<1000])), to: path + "-20261123")
            try Self.write(Self.lines(Array(records[1000..<2000])), to: path + "-20261124")
            try Self.write(Self.lines(Array(records[2000...])), to: path)
            try Self.gzip(path + "-20261123")
            let files = RejectionLogFile.files(for: path, rotation: .all)
            #expect(files.map(\.path) == [path + "-20261123.gz", path + "-20261124", path])
            #expect(Self.readAll(files).records == records)

            // Cut the compressed file in half: reported; what came before is kept.
            let gz = try Data(contentsOf: URL(fileURLWithPath: path + "-20261123.gz"))
            try gz.prefix(gz.count / 2).write(to: URL(fileURLWithPath: path + "-20261123.gz"))
            let (read, problems) = Self.readAll([RejectionLogFile(path: path + "-20261123.gz")])
            #expect(!read.isEmpty && read.count < 1000)
            #expect(read == Array(records[0..<read.count]))
            #expect(problems.last == RejectionLogProblem(
                file: path + "-20261123.gz", line: nil,
                message: "truncated gzip data (the file ends inside the compressed stream); lines before the damage were read"))
        }
    }

    /// Writes `text` to `path` gzip-compressed by Python's gzip module (a compressor we did not
    /// write), `members` gzip members one after another (RFC 1952 §2.2), as `cat a.gz b.gz` makes.
    static func pythonGzip(_ text: String, to path: String, members: Int = 1) throws {
        let plain = path + ".plain"
        try write(text, to: plain)
        defer { try? FileManager.default.removeItem(atPath: plain) }
        let script = """
            import gzip, sys
            data = open(sys.argv[1], 'rb').read()
            n = int(sys.argv[3])
            cut = [len(data) * i // n for i in range(n + 1)]
            with open(sys.argv[2], 'wb') as out:
                for i in range(n):
                    out.write(gzip.compress(data[cut[i]:cut[i + 1]]))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, plain, path, String(members)]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// Records big enough that the compressed file spans several read chunks and the output
    /// several buffers (about 6 MiB of lines).
    static let manyRecords = (0..<40_000).map { Self.record(at: Int64($0), detail: "#\($0) " + String(repeating: "é", count: $0 % 90)) }

    @Test("a .gz from Python's gzip module reads exactly, one member or three concatenated", arguments: [1, 3])
    func pythonGzipReads(members: Int) async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl.1.gz"
            try Self.pythonGzip(Self.lines(Self.manyRecords), to: path, members: members)
            let (records, problems) = Self.readAll([RejectionLogFile(path: path)])
            #expect(problems == [])
            #expect(records.count == Self.manyRecords.count)
            #expect(records == Self.manyRecords)
        }
    }

    @Test("a truncated or corrupt .gz: its lines before the damage, one problem naming it, the other files whole",
          arguments: ["truncated", "corrupt", "empty"])
    func damagedGzipLosesNothingElse(damage: String) async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            let older = Array(Self.manyRecords[0..<20_000])
            let newer = Array(Self.manyRecords[20_000...])
            try Self.pythonGzip(Self.lines(older), to: path + ".2.gz")
            try Self.write(Self.lines(Array(newer[0..<10_000])), to: path + ".1")
            try Self.write(Self.lines(Array(newer[10_000...])), to: path)
            var gz = try Data(contentsOf: URL(fileURLWithPath: path + ".2.gz"))
            switch damage {
            case "truncated": gz = gz.prefix(gz.count * 2 / 3)
            case "corrupt":
                // Bytes in the middle of the deflate stream overwritten: zlib (or, at the latest,
                // the CRC-32 in the trailer) refuses the block.
                for offset in (gz.count / 2)..<(gz.count / 2 + 64) { gz[offset] ^= 0xA5 }
            default: gz = Data()
            }
            try gz.write(to: URL(fileURLWithPath: path + ".2.gz"))
            let files = RejectionLogFile.files(for: path, rotation: .all)
            #expect(files.map(\.path) == [path + ".2.gz", path + ".1", path])
            let (records, problems) = Self.readAll(files)
            // The damaged file's lines come first: up to a cut, exactly its first lines. A corrupt
            // stream is only known to be corrupt when zlib meets an impossible code or, at the
            // latest, the CRC-32 at its end (RFC 1952 §2.3), so what it inflated before that is
            // delivered as `gzip -dc` would print it (its lines may be altered); the problem line
            // says so. Then every line of the other files.
            let fromDamaged = records.count - newer.count
            #expect(fromDamaged >= 0 && fromDamaged < older.count)
            if damage == "truncated" { #expect(Array(records[..<fromDamaged]) == Array(older[..<fromDamaged])) }
            #expect(Array(records[max(0, fromDamaged)...]) == newer)
            if damage == "empty" { #expect(fromDamaged == 0) } else { #expect(fromDamaged > 1000) }
            // Every problem is in the damaged file; the last one says what happened to it.
            #expect(problems.allSatisfy { $0.file == path + ".2.gz" })
            let expected = damage == "corrupt"
                ? "corrupt gzip data; lines before the damage were read"
                : "truncated gzip data (the file ends inside the compressed stream); lines before the damage were read"
            #expect(problems.last == RejectionLogProblem(file: path + ".2.gz", line: nil, message: expected))
        }
    }

    // MARK: Following

    /// Reads events until the next record (collecting problems on the way).
    static func nextRecord(_ iterator: inout RejectionLogFollower.Iterator, problems: inout [RejectionLogProblem]) async -> RejectionRecord? {
        while let event = await iterator.next() {
            switch event {
            case .record(let record): return record
            case .problem(let problem): problems.append(problem)
            case .caughtUp: Issue.record("caughtUp twice")
            }
        }
        return nil
    }

    @Test("--follow: existing lines, caught up, then appended lines across create-rotation and copytruncate",
          .timeLimit(.minutes(1)))
    func follow() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            let r = (0..<10).map { Self.record(at: Int64($0) * 1000, detail: "#\($0)") }
            try Self.write(Self.lines([r[0], r[1]]), to: path)

            var iterator = RejectionLogFollower(path: path, pollInterval: .milliseconds(5)).makeAsyncIterator()
            var problems: [RejectionLogProblem] = []
            #expect(await iterator.next() == .record(r[0]))
            #expect(await iterator.next() == .record(r[1]))
            #expect(await iterator.next() == .caughtUp)

            try Self.append(Self.lines([r[2]]), to: path)
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[2])

            // A line written in two pieces is delivered once, whole.
            let line3 = r[3].jsonLine() + "\n"
            try Self.append(String(line3.prefix(30)), to: path)
            try Self.append(String(line3.dropFirst(30)), to: path)
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[3])

            // logrotate `create`: rename, the gateway writes one more line to the old file before
            // SIGUSR1 makes it reopen, then writes to the new file.
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            try Self.append(Self.lines([r[4]]), to: path + ".1")
            try Self.write(Self.lines([r[5]]), to: path)
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[4])
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[5])
            try Self.append(Self.lines([r[6]]), to: path)
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[6])

            // logrotate `copytruncate`: the same file emptied, then written from the start.
            try Self.write(Self.lines(Array(r[0...6])), to: path + ".2")
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: 0)
            try handle.close()
            try Self.append(Self.lines([r[7]]), to: path)
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[7])

            // A damaged line while following is reported with its line number and skipped.
            try Self.append("{\"time\":oops}\n" + Self.lines([r[8]]), to: path)
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[8])
            #expect(problems.map(\.line) == [2])

            // Removed (and not yet re-created) is survived too.
            try FileManager.default.removeItem(atPath: path)
            try Self.write(Self.lines([r[9]]), to: path)
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[9])

            // Emptied and refilled past the read position before the follower looks again: the
            // bytes before its position changed, so it starts over instead of reading mid-line.
            let refill = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try refill.truncate(atOffset: 0)
            try refill.write(contentsOf: Data(Self.lines([r[0], r[1], r[2]]).utf8))
            try refill.close()
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[0])
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[1])
            #expect(await Self.nextRecord(&iterator, problems: &problems) == r[2])
            #expect(problems.count == 1)
        }
    }

    @Test("--follow waits for a file that does not exist yet", .timeLimit(.minutes(1)))
    func followMissing() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/later.jsonl"
            var iterator = RejectionLogFollower(path: path, pollInterval: .milliseconds(5)).makeAsyncIterator()
            #expect(await iterator.next() == .caughtUp)
            let record = Self.record(at: 42)
            try Self.write(Self.lines([record]), to: path)
            #expect(await iterator.next() == .record(record))
        }
    }

    @Test("--follow ends when its task is cancelled", .timeLimit(.minutes(1)))
    func followCancelled() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/quiet.jsonl"
            try Self.write("", to: path)
            let task = Task {
                var count = 0
                for await _ in RejectionLogFollower(path: path, pollInterval: .milliseconds(5)) { count += 1 }
                return count
            }
            task.cancel()
            #expect(await task.value <= 1)
        }
    }

    // MARK: The command

    /// The `wsgate` binary built next to this test bundle (`swift test` builds every product).
    static let wsgateBinary: String? = {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        return candidates.compactMap { $0?.appendingPathComponent("wsgate").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs `wsgate ARGS`; its exit status, standard output and standard error (through a file,
    /// so that neither pipe can fill up while the other is read).
    static func wsgate(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let errorPath = NSTemporaryDirectory() + "wsgate-rejections-stderr-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: errorPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        let errorFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wsgateBinary!)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = errorFile
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try errorFile.close()
        let errors = try String(contentsOfFile: errorPath, encoding: .utf8)
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), errors)
    }

    @Test("wsgate rejections end to end: rotated files, summary JSON, filters, damaged lines, bad reason, --config",
          .enabled(if: wsgateBinary != nil, "the wsgate binary is built next to the tests"))
    func command() async throws {
        try await Self.withDirectory { directory in
            let path = directory + "/rejections.jsonl"
            let records = (0..<30).map {
                Self.record(at: Int64($0) * 60_000, reason: $0 % 3 == 0 ? "token_expired" : "signature_invalid",
                            client: "192.0.2.\($0 % 4):4000\($0)", sub: "user-\($0 % 2)")
            }
            try Self.write(Self.lines(Array(records[0..<10])), to: path + ".2")
            try Self.gzip(path + ".2")
            try Self.write(Self.lines(Array(records[10..<20])), to: path + ".1")
            try Self.write(Self.lines(Array(records[20..<25])) + "{oops\n" + Self.lines(Array(records[25...])), to: path)

            let all = try Self.wsgate(["rejections", "--log", path, "--rotated", "--summary", "--json"])
            #expect(all.status == 0)
            let summary = try JSONSerialization.jsonObject(with: Data(all.out.utf8)) as? [String: Any]
            #expect(summary?["total"] as? Int == 30)
            #expect(summary?["first_seen"] as? String == records[0].time)
            #expect(all.err == "\(path):6: corrupt line (expected a key at byte 2); skipped\n")

            let latest = try Self.wsgate(["rejections", "--log", path, "--json", "--reason", "token_expired", "--sub", "user-1"])
            #expect(latest.status == 0)
            let expected = records[10...].filter { $0.reason == "token_expired" && $0.sub == "user-1" }
            #expect(latest.out == Self.lines(Array(expected)))

            let window = try Self.wsgate(["rejections", "--log", path, "--rotated", "--from", records[5].time, "--to", records[8].time,
                                          "--client", "192.0.2.0/30", "--limit", "2"])
            #expect(window.out.split(separator: "\n").count == 3, "a header and the last two of minutes 5, 6, 7")
            #expect(window.out.contains(records[6].time) && window.out.contains(records[7].time))

            let bad = try Self.wsgate(["rejections", "--log", path, "--reason", "expired"])
            #expect(bad.status == 64)
            #expect(bad.err.contains("unknown reason code expired; valid codes: headers_too_large, "))

            let missing = try Self.wsgate(["rejections", "--log", directory + "/none.jsonl"])
            #expect(missing.status == 1)
            #expect(missing.err.contains("cannot open"))

            try Self.write("""
                listen:
                  - address: 127.0.0.1:0
                keys:
                  - id: k
                    algorithms: [HS256]
                    secret_env: WSGATE_REJECTIONS_TEST_SECRET
                routes:
                  - path: /ws
                    upstream: ws://127.0.0.1:9/
                    auth: required
                rejection_log: { path: rejections.jsonl }

                """, to: directory + "/wsgate.yaml")
            let viaConfig = try Self.wsgate(
                ["rejections", "--config", directory + "/wsgate.yaml", "--current-only", "--summary"],
                environment: ["WSGATE_REJECTIONS_TEST_SECRET": String(repeating: "s", count: 40)])
            #expect(viaConfig.status == 0, "\(viaConfig.err)")
            #expect(viaConfig.out.hasPrefix("10 rejections, \(records[20].time) to \(records[29].time)"))
        }
    }
}
