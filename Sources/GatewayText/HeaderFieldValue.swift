/// The one check of what may stand in an HTTP field value (RFC 9110 §5.5): visible characters,
/// spaces, tabs and non-ASCII bytes (obs-text). CR and LF would split the header (header
/// injection), NUL and the other controls are refused by RFC 9110 and by many servers, DEL too.
public enum HeaderFieldValue {
    /// Whether `text` may be sent as a field value as it is.
    public static func isSafe(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }
}
