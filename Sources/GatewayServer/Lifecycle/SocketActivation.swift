#if canImport(Glibc)
import GatewayHandshake
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// systemd socket activation (sd_listen_fds(3)): the listening sockets a `.socket` unit (or
/// `systemd-socket-activate`) hands to `wsgate serve`, and which `listen[]` entry each one serves.
///
/// Because the sockets outlive the process, `systemctl restart wsgate` refuses no connection:
/// clients that connect while no wsgate runs wait in the kernel's accept backlog.
public enum SocketActivation {
    /// The first inherited descriptor (`SD_LISTEN_FDS_START`).
    public static let firstDescriptor: CInt = 3

    /// A problem with the inherited sockets; `wsgate serve` exits with it rather than serve
    /// part of what the unit promised.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, for the operator.
        public var description: String
        /// Creates a problem.
        public init(_ description: String) { self.description = description }
    }

    /// The descriptors and names in `environment` meant for process `pid`: none when `LISTEN_PID`
    /// is unset or names another process (the variables were inherited past the process systemd
    /// started, sd_listen_fds(3)).
    public static func descriptors(environment: [String: String], pid: Int32) throws(Problem) -> [(descriptor: CInt, name: String?)] {
        guard let pidText = environment["LISTEN_PID"], let countText = environment["LISTEN_FDS"] else { return [] }
        guard Int32(pidText) == pid else { return [] }
        guard let count = Int(countText), count >= 0, count <= 65_536 else {
            throw Problem("LISTEN_FDS is \"\(countText)\", not a number of descriptors")
        }
        var names: [String?] = Array(repeating: nil, count: count)
        if let namesText = environment["LISTEN_FDNAMES"] {
            let parts = namesText.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == count else {
                throw Problem("LISTEN_FDNAMES has \(parts.count) names for LISTEN_FDS=\(count) descriptors")
            }
            names = parts.map { $0.isEmpty ? nil : $0 }
        }
        return (0..<count).map { (firstDescriptor + CInt($0), names[$0]) }
    }

    /// Reads and consumes this process's activation variables: the sockets are marked
    /// close-on-exec and the variables unset, so nothing the gateway starts inherits them.
    public static func takeFromEnvironment() throws(Problem) -> [InheritedSocket] {
        var environment: [String: String] = [:]
        for key in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        let found = try descriptors(environment: environment, pid: getpid())
        for key in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(key) }
        var sockets: [InheritedSocket] = []
        for entry in found {
            guard fcntl(entry.descriptor, F_SETFD, FD_CLOEXEC) == 0 else {
                throw Problem("inherited descriptor \(entry.descriptor) is not open")
            }
            sockets.append(InheritedSocket(descriptor: entry.descriptor, name: entry.name, address: InheritedSocket.boundAddress(of: entry.descriptor)))
        }
        return sockets
    }

    /// Which inherited socket each listener serves, by listener index. A socket goes to the
    /// listener whose `name` is its name; otherwise to the one whose address is the socket's
    /// (same IP literal and port). A socket that matches no listener, or a listener matched
    /// twice, is a problem; listeners with no socket bind their own.
    public static func assign(_ sockets: [InheritedSocket], to listeners: [ListenerConfiguration]) throws(Problem) -> [Int: InheritedSocket] {
        var assigned: [Int: InheritedSocket] = [:]
        for socket in sockets {
            let index = listeners.firstIndex { listener in
                guard let name = socket.name, let wanted = listener.name else { return false }
                return name == wanted
            } ?? listeners.firstIndex { matches(socket.address, $0.endpoint) }
            guard let index else {
                throw Problem("inherited socket \(socket) matches no listen[] entry: give the entry `name: \(socket.name ?? "<FileDescriptorName>")` or the socket's address")
            }
            if let earlier = assigned[index] {
                throw Problem("inherited sockets \(earlier) and \(socket) both match listen[\(index)] (\(listeners[index].endpoint))")
            }
            assigned[index] = socket
        }
        return assigned
    }

    /// Whether a socket bound to `address` is what `endpoint` asks for: the same port (never 0)
    /// and the same address, compared as addresses (`::` and `0:0::0` are one).
    static func matches(_ address: SocketAddress?, _ endpoint: SocketEndpoint) -> Bool {
        guard let address, let port = address.port, endpoint.port != 0, port == endpoint.port,
              let wanted = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) else { return false }
        return wanted == address
    }
}
