import Foundation
import NIOSSL

/// A throwaway CA and a server certificate for `localhost` / 127.0.0.1, made with the `openssl`
/// command in a temporary directory, for TLS tests on loopback.
public struct TestCertificates: Sendable {
    /// The directory holding the files.
    public let directory: String
    /// CA certificate (PEM): the trust root clients use.
    public var caFile: String { directory + "/ca.pem" }
    /// Server certificate chain (PEM).
    public var certificateFile: String { directory + "/server.pem" }
    /// Server private key (PEM).
    public var privateKeyFile: String { directory + "/server.key" }

    /// Generates the CA and the server certificate.
    public static func make() throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "wsgate-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let extensions = directory + "/san.cnf"
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=wsgate test CA"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "san.cnf"],
        ]
        for arguments in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments[0]) failed"])
            }
        }
        return TestCertificates(directory: directory)
    }

    /// A server context for these files.
    public func serverContext() throws -> NIOSSLContext {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
        )
        return try NIOSSLContext(configuration: configuration)
    }

    /// A client context trusting only this CA.
    public func clientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(caFile)
        return try NIOSSLContext(configuration: configuration)
    }
}
