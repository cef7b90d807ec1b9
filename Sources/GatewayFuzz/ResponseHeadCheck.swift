import GatewayHandshake
import GatewayServer
import NIOCore
import NIOHTTP1

/// A backend's response head (`HTTPWire.parseResponseHead`): whatever it accepts must be safe
/// to act on and to pass to the client: a three-digit status, token names, values without
/// controls or surrounding whitespace, a reason phrase that cannot end the status line early.
enum ResponseHeadCheck {
    /// True when the head parses.
    static func accepts(_ input: [UInt8]) -> Bool {
        if case .success = HTTPWire.parseResponseHead(ByteBuffer(bytes: input).readableBytesView) { return true }
        return false
    }

    /// The first broken invariant of an accepted head.
    static func check(_ input: [UInt8]) -> FuzzFailure? {
        let buffer = ByteBuffer(bytes: input)
        guard case .success(let head) = HTTPWire.parseResponseHead(buffer.readableBytesView) else { return nil }
        guard (100...999).contains(head.status.code) else { return FuzzFailure("status code \(head.status.code) accepted") }
        // RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
        if head.status.reasonPhrase.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            return FuzzFailure("reason phrase \(head.status.reasonPhrase.debugDescription) has a control byte")
        }
        for (name, value) in head.headers {
            guard HTTPToken.isValid(name) else { return FuzzFailure("header name \(name.debugDescription) accepted") }
            if value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
                return FuzzFailure("header \(name) value \(value.debugDescription) has a control byte")
            }
            if let first = value.utf8.first, first == 0x20 || first == 0x09 {
                return FuzzFailure("header \(name) value keeps leading whitespace")
            }
            if let last = value.utf8.last, last == 0x20 || last == 0x09 {
                return FuzzFailure("header \(name) value keeps trailing whitespace")
            }
        }
        return nil
    }
}
