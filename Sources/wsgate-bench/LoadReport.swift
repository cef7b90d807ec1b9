import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// CPU time and RSS of a process, read from /proc.
struct ProcessSample: Codable {
    /// utime + stime, seconds.
    var cpuSeconds: Double
    /// VmRSS, KiB.
    var rssKiB: Int

    /// Samples `pid`; nil when it cannot be read.
    static func of(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "comm)": state is field 3, utime 14, stime 15 (proc(5)).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var rss = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) {
            rss = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return ProcessSample(cpuSeconds: (utime + stime) / ticks, rssKiB: rss)
    }

    /// This process's own user+system CPU seconds (getrusage).
    static func selfCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

/// Samples taken at the start and end of a measured window.
struct WindowSamples {
    var startNanos: UInt64 = 0
    var endNanos: UInt64 = 0
    var selfCPUStart = 0.0
    var selfCPUEnd = 0.0
    var watchedStart: [Int32: ProcessSample] = [:]
    var watchedEnd: [Int32: ProcessSample] = [:]
    let pids: [Int32]

    init(pids: [Int32]) { self.pids = pids }

    mutating func start() {
        for pid in pids { watchedStart[pid] = ProcessSample.of(pid: pid) }
        selfCPUStart = ProcessSample.selfCPUSeconds()
        startNanos = DispatchTime.now().uptimeNanoseconds
    }

    mutating func end() {
        endNanos = DispatchTime.now().uptimeNanoseconds
        selfCPUEnd = ProcessSample.selfCPUSeconds()
        for pid in pids { watchedEnd[pid] = ProcessSample.of(pid: pid) }
    }

    var seconds: Double { Double(endNanos &- startNanos) / 1e9 }

    /// The watched processes' figures over the window, per 1,000 `operations`.
    func watched(operations: Int) -> [WatchedProcess] {
        pids.compactMap { pid in
            guard let a = watchedStart[pid], let b = watchedEnd[pid] else { return nil }
            let cpu = b.cpuSeconds - a.cpuSeconds
            return WatchedProcess(
                pid: pid, cpuSeconds: cpu,
                cpuMillisecondsPer1000Operations: operations > 0 ? cpu * 1000 / Double(operations) * 1000 : nil,
                cpuPercentOfOneCore: seconds > 0 ? cpu / seconds * 100 : 0,
                rssKiBStart: a.rssKiB, rssKiBEnd: b.rssKiB
            )
        }
    }

    var client: ClientCPU {
        let cpu = selfCPUEnd - selfCPUStart
        return ClientCPU(cpuSeconds: cpu, cpuPercentOfOneCore: seconds > 0 ? cpu / seconds * 100 : 0)
    }
}

/// A watched process over the window.
struct WatchedProcess: Codable {
    var pid: Int32
    var cpuSeconds: Double
    var cpuMillisecondsPer1000Operations: Double?
    var cpuPercentOfOneCore: Double
    var rssKiBStart: Int
    var rssKiBEnd: Int
}

/// The load generator's own CPU use over the window (getrusage).
struct ClientCPU: Codable {
    var cpuSeconds: Double
    var cpuPercentOfOneCore: Double
}

/// Latency percentiles, microseconds.
struct LatencySummary: Codable {
    var count: UInt64
    var p50: UInt64
    var p90: UInt64
    var p99: UInt64
    var p999: UInt64
    var max: UInt64
}

/// One scenario's result.
struct LoadReport: Codable {
    var scenario: String
    var label: String
    var url: String
    var concurrency: Int
    var messageBytes: Int?
    var seconds: Double
    var operations: Int
    var errors: Int
    var operationsPerSecond: Double
    /// Payload megabytes (10^6) per second received, for `stream`.
    var megabytesPerSecond: Double?
    var latencyMicroseconds: LatencySummary?
    /// `handshake` only: upgrade request written → complete 101 head (for wss://, from the end
    /// of the TLS handshake), the wait a client with or without TCP_NODELAY sees.
    var upgradeLatencyMicroseconds: LatencySummary?
    var client: ClientCPU
    var watched: [WatchedProcess]
    var idle: IdleFigures?

    /// Prints the table or JSON.
    func print(json: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            Swift.print(String(decoding: try! encoder.encode(self), as: UTF8.self))
            return
        }
        func f(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }
        Swift.print("\(scenario) \(label.isEmpty ? "" : "[\(label)] ")\(url)  concurrency \(concurrency)\(messageBytes.map { "  message \($0) B" } ?? "")")
        Swift.print("  window       \(f(seconds, 2)) s   operations \(operations)   errors \(errors)")
        Swift.print("  rate         \(f(operationsPerSecond)) /s\(megabytesPerSecond.map { "   \(f($0)) MB/s" } ?? "")")
        if let l = latencyMicroseconds {
            Swift.print("  latency µs   p50 \(l.p50)  p90 \(l.p90)  p99 \(l.p99)  p99.9 \(l.p999)  max \(l.max)  (n=\(l.count))")
        }
        if let l = upgradeLatencyMicroseconds {
            Swift.print("  request→101  p50 \(l.p50)  p90 \(l.p90)  p99 \(l.p99)  p99.9 \(l.p999)  max \(l.max) µs")
        }
        Swift.print("  client CPU   \(f(client.cpuSeconds, 2)) s = \(f(client.cpuPercentOfOneCore))% of one core (near 100%: the client is the bottleneck)")
        for w in watched {
            Swift.print("  pid \(w.pid)     CPU \(f(w.cpuSeconds, 2)) s = \(f(w.cpuPercentOfOneCore))% of a core, \(w.cpuMillisecondsPer1000Operations.map { f($0, 2) } ?? "-") ms per 1000 ops, RSS \(w.rssKiBStart) -> \(w.rssKiBEnd) KiB")
        }
        if let idle {
            Swift.print("  idle         asked \(idle.requested), opened \(idle.opened), failed \(idle.failed), still open after \(f(idle.holdSeconds)) s: \(idle.stillOpen), echoing: \(idle.echoing)")
            Swift.print("  open rate    \(f(idle.openPerSecond)) /s")
            if let per = idle.watchedRSSKiBPerConnection { Swift.print("  RSS/conn     \(f(per, 2)) KiB (watched process, before -> all open)") }
        }
    }
}

/// Figures of the `idle` scenario.
struct IdleFigures: Codable {
    var requested: Int
    var opened: Int
    var failed: Int
    var openSeconds: Double
    var openPerSecond: Double
    var holdSeconds: Double
    var stillOpen: Int
    var echoing: Int
    var watchedRSSKiBBefore: Int?
    var watchedRSSKiBOpen: Int?
    var watchedRSSKiBPerConnection: Double?
}

extension LatencySummary {
    /// Percentiles of a histogram of microseconds.
    init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        p50 = histogram.valueAtPercentile(50)
        p90 = histogram.valueAtPercentile(90)
        p99 = histogram.valueAtPercentile(99)
        p999 = histogram.valueAtPercentile(99.9)
        max = histogram.max
    }

    /// An empty histogram for latencies up to 60 s, in microseconds, 3 significant digits.
    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }
}
