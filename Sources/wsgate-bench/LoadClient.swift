import ArgumentParser
import Foundation
import GatewayAuth
import Histogram
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Options shared by the load scenarios (`handshake`, `echo`, `stream`, `idle`).
struct LoadOptions: ParsableArguments {
    /// The WebSocket URL to load.
    @Option(help: "Target URL, ws://host:port/path or wss://host:port/path.")
    var url: String = "ws://127.0.0.1:8080/ws/chat"

    /// A fixed token; sent as `Authorization: Bearer`.
    @Option(help: "A token to send as Authorization: Bearer (all connections).")
    var token: String?

    /// A private key (PEM) to mint tokens with.
    @Option(help: "Private key PEM to mint tokens with (RS*/PS*/ES*/EdDSA).")
    var key: String?

    /// An environment variable holding an HMAC secret to mint tokens with.
    @Option(name: .customLong("secret-env"), help: "Environment variable holding an HMAC secret to mint tokens with.")
    var secretEnv: String?

    /// The algorithm of minted tokens.
    @Option(help: "Algorithm of minted tokens (default RS256 with --key, HS256 with --secret-env).")
    var alg: String?

    /// The kid of minted tokens.
    @Option(help: "kid of minted tokens.")
    var kid: String?

    /// Claims of minted tokens.
    @Option(help: "sub of minted tokens.")
    var sub: String = "bench"

    /// iss of minted tokens.
    @Option(help: "iss of minted tokens.")
    var iss: String?

    /// aud of minted tokens.
    @Option(help: "aud of minted tokens.")
    var aud: String?

    /// Extra claims, `name=value` (value JSON when it parses).
    @Option(name: .customLong("claim"), help: "Extra claim name=value for minted tokens (repeatable).")
    var claims: [String] = []

    /// How many distinct tokens to mint and rotate through.
    @Option(help: "Distinct tokens minted at start and rotated through (signing is not measured).")
    var tokens: Int = 16

    /// Minted tokens kept in a file, so that many runs can share one expensive minting.
    @Option(name: .customLong("tokens-file"), help: "Read the tokens from this file (one per line); when it does not exist, mint --tokens and write them there.")
    var tokensFile: String?

    /// Local addresses connections are bound to, round robin.
    @Option(name: .customLong("source-addresses"), help: "Comma-separated local addresses to bind (127.0.0.2,127.0.0.3…): >64k connections on loopback.")
    var sourceAddresses: String?

    /// Processes whose CPU time and RSS are sampled at the edges of the measured window.
    @Option(name: .customLong("watch-pid"), help: "A process (the proxy) whose CPU time (/proc/PID/stat) and RSS are sampled at the window's edges (repeatable).")
    var watchPIDs: [Int32] = []

    /// A name for the report.
    @Option(help: "A label for the report (e.g. wsgate, haproxy).")
    var label: String = ""

    /// JSON instead of a table.
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    /// The TLS version of wss:// connections.
    @Option(name: .customLong("tls-version"), help: "TLS version for wss:// (1.3 or 1.2).")
    var tlsVersion: String = "1.3"

    /// Whether the client sets TCP_NODELAY (browsers do; many scripts and libraries do not).
    @Option(help: "TCP_NODELAY on the client's sockets: on or off (off: Nagle holds a small write while an earlier one is unacknowledged).")
    var nodelay: String = "on"

    /// The parsed target.
    func target() throws -> LoadTarget {
        guard var target = LoadTarget(url: url) else { throw ValidationError("--url must be ws://host:port/path or wss://host:port/path") }
        switch nodelay {
        case "on": target.noDelay = true
        case "off": target.noDelay = false
        default: throw ValidationError("--nodelay takes on or off")
        }
        switch tlsVersion {
        case "1.3": target.tlsVersion = .tlsv13
        case "1.2": target.tlsVersion = .tlsv12
        default: throw ValidationError("--tls-version takes 1.3 or 1.2")
        }
        target.tls = try target.makeTLSContext()
        return target
    }

    /// The tokens to rotate through (empty: no Authorization header).
    func makeTokens() throws -> [String] {
        if let token { return [token] }
        guard let tokensFile else { return try mintTokens() }
        if let saved = FileManager.default.contents(atPath: tokensFile) {
            return String(decoding: saved, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        let minted = try mintTokens()
        try Data((minted.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: tokensFile))
        return minted
    }

    /// Signs `tokens` fresh tokens (valid for an hour, distinct `jti`s).
    private func mintTokens() throws -> [String] {
        let signer: TokenSigner
        if let key {
            let algorithm = JWTAlgorithm(rawValue: alg ?? "RS256")
            guard let algorithm else { throw ValidationError("unknown --alg") }
            let pem = try [UInt8](Data(contentsOf: URL(fileURLWithPath: key)))
            signer = try TokenSigner.privateKey(algorithm, pem: pem, kid: kid)
        } else if let secretEnv {
            guard let secret = ProcessInfo.processInfo.environment[secretEnv] else { throw ValidationError("\(secretEnv) is not set") }
            guard let algorithm = JWTAlgorithm(rawValue: alg ?? "HS256") else { throw ValidationError("unknown --alg") }
            signer = try TokenSigner.hmac(algorithm, secret: Array(secret.utf8), kid: kid)
        } else {
            return []
        }
        let now = Int64(Date().timeIntervalSince1970)
        var base: [String: JSONValue] = ["sub": .string(sub), "iat": .integer(now), "exp": .integer(now + 3600)]
        if let iss { base["iss"] = .string(iss) }
        if let aud { base["aud"] = .string(aud) }
        for claim in claims {
            guard let eq = claim.firstIndex(of: "=") else { throw ValidationError("--claim takes name=value") }
            let value = String(claim[claim.index(after: eq)...])
            base[String(claim[..<eq])] = Int64(value).map { .integer($0) } ?? (value == "true" ? .bool(true) : value == "false" ? .bool(false) : .string(value))
        }
        return try (0..<max(1, tokens)).map { index in
            var claims = base
            claims["jti"] = .string("bench-\(now)-\(index)")
            return try signer.sign(claims: claims)
        }
    }

    /// The parsed source addresses.
    func sources() throws -> [SocketAddress] {
        guard let sourceAddresses, !sourceAddresses.isEmpty else { return [] }
        return try sourceAddresses.split(separator: ",").map { try SocketAddress(ipAddress: String($0), port: 0) }
    }
}

/// `ws://host:port/path` or `wss://…` resolved to a socket address.
struct LoadTarget: Sendable {
    /// Where to connect.
    let address: SocketAddress
    /// `Host` header value.
    let hostHeader: String
    /// Request target (path and query).
    let requestTarget: String
    /// Whether connections speak TLS first (`wss://`).
    let secure: Bool
    /// The host name sent as SNI (nil for an IP address literal, RFC 6066 §3).
    let serverName: String?
    /// The one TLS version offered (minimum and maximum alike).
    var tlsVersion: TLSVersion = .tlsv13
    /// TCP_NODELAY on the client's sockets.
    var noDelay = true
    /// The client TLS context shared by all connections (`wss://` only).
    var tls: NIOSSLContext?

    /// Parses a `ws://` or `wss://` URL with a numeric or resolvable host.
    init?(url: String) {
        if url.hasPrefix("wss://") {
            secure = true
        } else if url.hasPrefix("ws://") {
            secure = false
        } else {
            return nil
        }
        let rest = url.dropFirst(secure ? 6 : 5)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        requestTarget = slash == rest.endIndex ? "/" : String(rest[slash...])
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) else { return nil }
        let host = String(authority[..<colon])
        guard let address = try? SocketAddress.makeAddressResolvingHost(host, port: port) else { return nil }
        self.address = address
        hostHeader = authority
        let literal = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        serverName = literal ? nil : host
    }

    /// The client TLS context of a `wss://` target: one version, no certificate verification
    /// (the benchmark's certificates are minted on the spot; verifying them costs the client, not
    /// the proxy), ALPN `http/1.1` as browsers offer it, and X25519 only: BoringSSL's client would
    /// also offer X25519MLKEM768, which wsgate's BoringSSL accepts and HAProxy's OpenSSL 3.0 does
    /// not, and the proxies would then be compared on different key exchanges.
    func makeTLSContext() throws -> NIOSSLContext? {
        guard secure else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = tlsVersion
        configuration.maximumTLSVersion = tlsVersion
        configuration.certificateVerification = .none
        configuration.applicationProtocols = ["http/1.1"]
        configuration.curves = [.x25519]
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Builds the upgrade request of each connection.
struct UpgradeRequests {
    let target: LoadTarget
    let tokens: [String]
    private var next = 0
    private var generator = SystemRandomNumberGenerator()

    init(target: LoadTarget, tokens: [String]) {
        self.target = target
        self.tokens = tokens
    }

    /// The next request: a fresh Sec-WebSocket-Key (RFC 6455 §4.1) and the next token.
    mutating func make(allocator: ByteBufferAllocator) -> ByteBuffer {
        var keyBytes = [UInt8](repeating: 0, count: 16)
        let a = generator.next(), b = generator.next()
        withUnsafeBytes(of: a) { keyBytes.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: b) { keyBytes.replaceSubrange(8..<16, with: $0) }
        var buffer = allocator.buffer(capacity: 320 + (tokens.first?.utf8.count ?? 0))
        buffer.writeString("GET \(target.requestTarget) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ")
        buffer.writeString(Data(keyBytes).base64EncodedString())
        buffer.writeString("\r\nSec-WebSocket-Version: 13\r\n")
        if !tokens.isEmpty {
            buffer.writeString("Authorization: Bearer ")
            buffer.writeString(tokens[next % tokens.count])
            buffer.writeString("\r\n")
            next &+= 1
        }
        buffer.writeString("\r\n")
        return buffer
    }
}

/// Client-to-server frames: masked with a random key, as RFC 6455 §5.3 requires of clients.
enum ClientFrame {
    /// Binary opcode.
    static let binary: UInt8 = 0x2
    static let text: UInt8 = 0x1
    /// Close opcode.
    static let close: UInt8 = 0x8
    /// Pong opcode.
    static let pong: UInt8 = 0xA

    /// One complete masked frame carrying `size` payload bytes of pattern data. A connection
    /// builds its frame once and resends the same bytes: the wire format is exactly a masked
    /// frame, and the load generator pays for masking once instead of per message.
    static func masked(opcode: UInt8, payloadSize: Int, payload: [UInt8]? = nil, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: payloadSize + 14)
        buffer.writeInteger(0x80 | opcode)
        if payloadSize < 126 {
            buffer.writeInteger(UInt8(0x80 | payloadSize))
        } else if payloadSize <= 0xFFFF {
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(payloadSize))
        } else {
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(payloadSize))
        }
        var mask = [UInt8](repeating: 0, count: 4)
        var generator = SystemRandomNumberGenerator()
        let key = UInt32.random(in: 0...UInt32.max, using: &generator)
        withUnsafeBytes(of: key) { mask = Array($0) }
        buffer.writeBytes(mask)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: payloadSize) { out in
            for index in 0..<payloadSize {
                let plain = payload.map { $0[index] } ?? UInt8(truncatingIfNeeded: index &* 31 &+ 7)
                out[index] = plain ^ mask[index & 3]
            }
            return payloadSize
        }
        return buffer
    }

    /// A masked close frame with code 1000 (RFC 6455 §5.5.1).
    static func close(allocator: ByteBufferAllocator) -> ByteBuffer {
        masked(opcode: close, payloadSize: 2, payload: [0x03, 0xE8], allocator: allocator)
    }
}

/// Reads server frames by their headers only: payloads are skipped, never copied, so a 1 MiB
/// message costs the reader nothing but the header (RFC 6455 §5.2).
struct FrameReader {
    /// What a read produced.
    enum Event {
        /// A complete data message (all its fragments), with its payload size.
        case message(opcode: UInt8, bytes: Int)
        /// A close frame.
        case close
        /// A ping frame (answered with an empty pong).
        case ping
    }

    private var stash: ByteBuffer?
    private var inFrame = false
    private var remaining: UInt64 = 0
    private var opcode: UInt8 = 0
    private var messageOpcode: UInt8 = 0
    private var fin = false
    private var messageBytes = 0

    /// Consumes `incoming` and reports each completed message or control frame.
    mutating func consume(_ incoming: inout ByteBuffer, _ handle: (Event) -> Void) {
        if var stashed = stash {
            stash = nil
            stashed.writeBuffer(&incoming)
            process(&stashed, handle)
        } else {
            process(&incoming, handle)
        }
    }

    private mutating func process(_ buffer: inout ByteBuffer, _ handle: (Event) -> Void) {
        while buffer.readableBytes > 0 {
            if inFrame {
                let n = Int(min(UInt64(buffer.readableBytes), remaining))
                buffer.moveReaderIndex(forwardBy: n)
                remaining -= UInt64(n)
                messageBytes += n
                if remaining == 0 { finishFrame(handle) }
                continue
            }
            let start = buffer.readerIndex
            guard buffer.readableBytes >= 2, let b0 = buffer.getInteger(at: start, as: UInt8.self),
                  let b1 = buffer.getInteger(at: start + 1, as: UInt8.self)
            else {
                stash = ByteBuffer(buffer.readableBytesView)
                return
            }
            var length = UInt64(b1 & 0x7F)
            let masked = b1 & 0x80 != 0
            let lengthBytes = length == 126 ? 2 : (length == 127 ? 8 : 0)
            let headerBytes = 2 + lengthBytes + (masked ? 4 : 0)
            guard buffer.readableBytes >= headerBytes else {
                stash = ByteBuffer(buffer.readableBytesView)
                return
            }
            if lengthBytes == 2 {
                length = UInt64(buffer.getInteger(at: start + 2, as: UInt16.self)!)
            } else if lengthBytes == 8 {
                length = buffer.getInteger(at: start + 2, as: UInt64.self)!
            }
            buffer.moveReaderIndex(forwardBy: headerBytes)
            fin = b0 & 0x80 != 0
            opcode = b0 & 0x0F
            if opcode != 0 && opcode < 8 {
                messageOpcode = opcode
                messageBytes = 0
            }
            remaining = length
            inFrame = true
            if remaining == 0 { finishFrame(handle) }
        }
    }

    private mutating func finishFrame(_ handle: (Event) -> Void) {
        inFrame = false
        switch opcode {
        case 0x8: handle(.close)
        case 0x9: handle(.ping)
        case 0xA: break
        default:
            if fin {
                let bytes = messageBytes
                messageBytes = 0
                handle(.message(opcode: messageOpcode, bytes: bytes))
            }
        }
    }
}

/// What a scenario is told about each connection. Called on the connection's event loop.
protocol LoadDriver: AnyObject {
    /// A complete data message arrived (the first one is the backend's greeting).
    func connection(_ connection: LoadConnection, received opcode: UInt8, bytes: Int)
    /// The server answered the upgrade with something other than 101.
    func connection(_ connection: LoadConnection, refused status: Int)
    /// The server sent a close frame.
    func connectionReceivedClose(_ connection: LoadConnection)
    /// The TCP connection ended.
    func connectionClosed(_ connection: LoadConnection)
}

/// One client connection: writes the upgrade request, checks for 101, then reads frames.
///
/// `@unchecked Sendable`: an instance is created for one channel and only ever touched on that
/// channel's event loop (the load generator runs a single loop); the conformance only lets the
/// channel initializer capture it.
final class LoadConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private var request: ByteBuffer?
    private var head: ByteBuffer?
    private var upgraded = false
    private var reader = FrameReader()
    // Strong: the connections keep their driver alive (nothing else holds it while it waits).
    private var driver: (any LoadDriver)?
    private(set) var context: ChannelHandlerContext?
    /// Whether the backend greeting (first data message) has arrived.
    var greeted = false
    /// When the connection attempt started (ns, monotonic).
    var startedAt: UInt64 = 0
    /// When the upgrade request left (ns): at connect for ws://, at the end of the TLS handshake
    /// for wss:// (the TLS handler holds the request until then).
    var requestSentAt: UInt64 = 0
    /// Request → complete 101 head (ns), once the upgrade succeeded.
    var upgradeNanos: UInt64?
    /// Send times of messages in flight (ns), oldest first.
    var inFlight: [UInt64] = []
    /// Index of the oldest entry of `inFlight` still waiting.
    var inFlightHead = 0
    /// The frame this connection sends repeatedly.
    var frame: ByteBuffer?
    /// Whether it is still open.
    private(set) var isOpen = true
    /// Whether this side sent a close frame.
    var closeSent = false
    /// Whether a driver has already counted this connection as opened or failed.
    var settled = false

    init(request: ByteBuffer, driver: any LoadDriver) {
        self.request = request
        self.driver = driver
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendRequest(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard let request else { return }
        self.request = nil
        requestSentAt = nowNanos()
        context.writeAndFlush(NIOAny(request), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            // The request was written at connect and held by the TLS handler until now.
            requestSentAt = nowNanos()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if !upgraded {
            if head == nil {
                head = buffer
            } else {
                head!.writeBuffer(&buffer)
            }
            guard let end = Self.endOfHead(head!) else {
                if head!.readableBytes > 16384 { context.close(promise: nil) }
                return
            }
            let status = Self.status(head!)
            guard status == 101 else {
                driver?.connection(self, refused: status)
                head = nil
                context.close(promise: nil)
                return
            }
            upgraded = true
            upgradeNanos = nowNanos() &- requestSentAt
            head!.moveReaderIndex(forwardBy: end)
            buffer = head!
            head = nil
        }
        reader.consume(&buffer) { event in
            switch event {
            case .message(let opcode, let bytes):
                driver?.connection(self, received: opcode, bytes: bytes)
            case .close:
                driver?.connectionReceivedClose(self)
            case .ping:
                send(ClientFrame.masked(opcode: ClientFrame.pong, payloadSize: 0, allocator: context.channel.allocator))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isOpen = false
        driver?.connectionClosed(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Writes and flushes `buffer`.
    func send(_ buffer: ByteBuffer) {
        guard isOpen, let context else { return }
        context.writeAndFlush(NIOAny(buffer), promise: nil)
    }

    /// Sends a close frame 1000 once; the server is expected to answer and close TCP first
    /// (RFC 6455 §7.1.1). `timeout` closes the socket anyway if it does not.
    func sendClose(timeout: TimeAmount = .seconds(3)) {
        guard isOpen, !closeSent, let context else { return }
        closeSent = true
        context.writeAndFlush(NIOAny(ClientFrame.close(allocator: context.channel.allocator)), promise: nil)
        let channel = context.channel
        channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    /// Closes the socket now.
    func abort() {
        guard isOpen else { return }
        context?.close(promise: nil)
    }

    /// Offset just past the blank line ending the response head, if it is complete.
    private static func endOfHead(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            var index = 3
            while index < bytes.count {
                if bytes[index] == 0x0A && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A && bytes[index - 3] == 0x0D {
                    return index + 1
                }
                index += 1
            }
            return nil
        }
    }

    /// The status code of `HTTP/1.1 NNN …` (0 when unreadable).
    private static func status(_ buffer: ByteBuffer) -> Int {
        guard let line = buffer.getString(at: buffer.readerIndex, length: min(12, buffer.readableBytes)), line.count == 12 else { return 0 }
        return Int(line.dropFirst(9)) ?? 0
    }
}

/// Opens client connections from the load generator's one event loop.
final class LoadConnector {
    let loop: EventLoop
    let target: LoadTarget
    private let sources: [SocketAddress]
    private var nextSource = 0
    private var requests: UpgradeRequests
    private let allocator = ByteBufferAllocator()

    init(loop: EventLoop, target: LoadTarget, tokens: [String], sources: [SocketAddress]) {
        self.loop = loop
        self.target = target
        self.sources = sources
        requests = UpgradeRequests(target: target, tokens: tokens)
    }

    /// Starts one connection driven by `driver`; the future fails when the TCP connect does.
    func connect(driver: any LoadDriver) -> (LoadConnection, EventLoopFuture<Channel>) {
        let connection = LoadConnection(request: requests.make(allocator: allocator), driver: driver)
        connection.startedAt = DispatchTime.now().uptimeNanoseconds
        let (tls, serverName) = (target.tls, target.serverName)
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(.tcpOption(.tcp_nodelay), value: target.noDelay ? 1 : 0)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 256 * 1024))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        if !sources.isEmpty {
            // IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect() time per 4-tuple, so each
            // source address gets its own ~28k ports toward each destination.
            bootstrap = bootstrap
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(ChannelOptions.Types.SocketOption(level: .ip, name: NIOBSDSocket.Option(rawValue: 24)), value: 1)
                .bind(to: sources[nextSource % sources.count])
            nextSource &+= 1
        }
        return (connection, bootstrap.connect(to: target.address))
    }
}

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

/// Runs a driver on a fresh single-threaded event loop group and returns what it produced.
func runOnLoop<Result: Sendable>(_ body: @escaping @Sendable (EventLoop, EventLoopPromise<Result>) -> Void) async throws -> Result {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop = group.next()
    let promise = loop.makePromise(of: Result.self)
    loop.execute { body(loop, promise) }
    do {
        let result = try await promise.futureResult.get()
        try? await group.shutdownGracefully()
        return result
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
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

/// Monotonic nanoseconds.
@inline(__always) func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
