#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// A listening socket the process was handed at start (systemd socket activation, sd_listen_fds(3)).
public struct InheritedSocket: Sendable, Hashable, CustomStringConvertible {
    /// The descriptor (3, 4, … in the order of the `.socket` unit's `Listen*=` lines).
    public var descriptor: CInt
    /// Its `LISTEN_FDNAMES` entry; systemd names unnamed sockets after their unit (`wsgate.socket`).
    public var name: String?
    /// The address it is bound to, when it is an IPv4 or IPv6 socket.
    public var address: SocketAddress?

    /// Creates the description of an inherited socket.
    public init(descriptor: CInt, name: String?, address: SocketAddress?) {
        self.descriptor = descriptor
        self.name = name
        self.address = address
    }

    /// `fd 3 "public" 127.0.0.1:8080` for errors and logs.
    public var description: String {
        var text = "fd \(descriptor)"
        if let name { text += " \"\(name)\"" }
        if let address { text += " \(Gateway.display(address))" }
        return text
    }

    /// The address `descriptor` is bound to (getsockname(2)); nil for a descriptor that is not an
    /// IPv4 or IPv6 socket.
    public static func boundAddress(of descriptor: CInt) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard status == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            return SocketAddress(address, host: "")
        case AF_INET6:
            let address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            return SocketAddress(address, host: "")
        default:
            return nil
        }
    }
}
