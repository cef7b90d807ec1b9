import Foundation
import GatewayText

/// A `postgres://user:password@host:port/database?sslmode=…` URL, checked without connecting.
/// Its `description` never shows the password.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// How the connection uses TLS (libpq's `sslmode` names; `verify-full` is what `require` does
    /// here, since NIOSSL always verifies the certificate and host name).
    public enum TLSMode: String, Sendable, Equatable {
        case disable
        case prefer
        case require
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String?
    public var tls: TLSMode

    /// Creates a URL from its parts.
    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String? = nil, tls: TLSMode = .prefer) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a URL; the error says what is wrong without quoting the URL (it may hold a password).
    public init(parsing text: String) throws(PostgresURLError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let components = URLComponents(string: trimmed) else { throw PostgresURLError("is not a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw PostgresURLError("must start with postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw PostgresURLError("names no host") }
        guard let user = components.user, !user.isEmpty else { throw PostgresURLError("names no user (postgres://USER:PASSWORD@host/db)") }
        self.host = host
        self.port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw PostgresURLError("has port \(port), outside 1-65535") }
        self.user = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? nil : path
        self.tls = .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw PostgresURLError("has sslmode=\(item.value ?? ""); use disable, prefer or require")
                }
            default:
                throw PostgresURLError("has the unknown parameter \(item.name.prefix(40)) (only sslmode is read)")
            }
        }
    }

    /// `postgres://user@host:port/db` (no password).
    public var description: String {
        "postgres://\(user)@\(HostPort.text(host: host, port: port))/\(database ?? "")"
    }
}

/// Why a PostgreSQL URL was refused.
public struct PostgresURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong ("the URL …" is implied).
    public let message: String

    init(_ message: String) { self.message = message }

    public var description: String { message }
}
