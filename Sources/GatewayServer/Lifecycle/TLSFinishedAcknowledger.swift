import NIOCore
import NIOTLS

/// Acknowledges the client's TLS Finished at once, so a client that leaves Nagle on (no
/// TCP_NODELAY) does not wait for the kernel's delayed ACK (40 ms on Linux) before its upgrade
/// request leaves.
///
/// Why it is needed: the client sends its Finished and then, right behind it, the HTTP request.
/// Nagle (RFC 896) holds that second small segment until the first is acknowledged. A TLS 1.3
/// server normally sends its NewSessionTicket messages (RFC 8446 §4.6.1) right after reading the
/// Finished, and that data carries the ACK. BoringSSL, however, defers the tickets to the server's
/// next write (tls13_server.cc, `do_send_new_session_ticket`: "we defer until the server performs
/// a write"; a zero-byte `SSL_write` would flush them, but swift-nio-ssl 2.37.6 never issues one
/// and exposes neither the `SSL` nor `SSL_CTX_set_num_tickets`). The tickets therefore leave with
/// the 101, and before this handler the ACK for the Finished came only from the delayed-ACK timer.
///
/// Setting TCP_QUICKACK on the socket while an ACK is pending makes Linux send it immediately
/// (`__tcp_sock_set_quickack`: the pending ACK is pushed); one empty segment per connection.
/// `ClientHandshakeHandler` calls it when the TLS handshake completes (a handler of its own cost a
/// pipeline insertion and removal per connection).
enum TLSFinishedAcknowledger {
    /// TCP_QUICKACK (Linux `tcp(7)`, 12 in <netinet/tcp.h> on every architecture, glibc and musl
    /// alike); other systems have no such override and skip it.
    #if os(Linux)
    static let quickAck: NIOBSDSocket.Option? = NIOBSDSocket.Option(rawValue: 12)
    #else
    static let quickAck: NIOBSDSocket.Option? = nil
    #endif

    /// Acknowledges what `channel` received so far at once.
    static func acknowledge(on channel: Channel) {
        if let option = quickAck, let options = channel.syncOptions {
            // A failure (the peer already gone) changes nothing for the connection.
            try? options.setOption(.tcpOption(option), value: 1)
        }
    }
}
