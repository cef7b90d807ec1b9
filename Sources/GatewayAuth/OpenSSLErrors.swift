import COpenSSL

/// OpenSSL's per-thread error queue. Every failure path drains it, so a stale error can never be
/// mistaken for a later call's failure (and the queue cannot grow without bound on a thread that
/// sees many bad tokens).
enum OpenSSLErrors {
    /// Drains the queue and returns the earliest reason text, for key loading messages.
    static func drain() -> String {
        let code = ERR_get_error()
        var text = "unknown OpenSSL error"
        if code != 0, let reason = ERR_reason_error_string(code) {
            text = String(cString: reason)
        }
        ERR_clear_error()
        return text
    }

    /// Drains the queue without reading it (verification failures are expected, not exceptional).
    @inline(__always)
    static func clear() { ERR_clear_error() }
}
