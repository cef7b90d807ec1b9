#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Recently seen protected headers, by their exact base64url text.
///
/// A deployment sees a handful of distinct headers (one per issuer key), so most verifications
/// can skip the header's JSON parse. Parsing is deterministic and strict base64url gives every
/// byte string exactly one spelling, so a hit returns exactly what parsing the same text would
/// (RFC 7515 §5.2 steps 2–3 are still applied to every header once). Only headers that parsed
/// successfully are stored; at most `capacity` entries of at most `maxTextBytes` each, replaced
/// round-robin, so a flood of distinct headers costs memory-bounded misses, nothing else.
///
/// `@unchecked Sendable` is safe because the mutable state (`entries`, `next`) is only read or
/// written while holding `mutex`, which is allocated in `init` and destroyed in `deinit`.
final class JOSEHeaderCache: @unchecked Sendable {
    /// Entries kept.
    static let capacity = 16
    /// Longer header texts are not cached.
    static let maxTextBytes = 256

    private struct Entry {
        var text: [UInt8]
        var header: JOSEHeader
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var entries: [Entry] = []
    private var next = 0

    /// An empty cache.
    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        entries.reserveCapacity(Self.capacity)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// The header parsed earlier from exactly `text`, if cached.
    func header(for text: UnsafeRawBufferPointer) -> JOSEHeader? {
        guard text.count <= Self.maxTextBytes else { return nil }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        for entry in entries where entry.text.count == text.count {
            let same = entry.text.withUnsafeBytes { stored in
                memcmp(stored.baseAddress!, text.baseAddress!, text.count) == 0
            }
            if same { return entry.header }
        }
        return nil
    }

    /// Remembers a successfully parsed header.
    func store(_ header: JOSEHeader, for text: UnsafeRawBufferPointer) {
        guard text.count <= Self.maxTextBytes, text.count > 0 else { return }
        let entry = Entry(text: Array(text), header: header)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if entries.count < Self.capacity {
            entries.append(entry)
        } else {
            entries[next] = entry
            next = (next + 1) % Self.capacity
        }
    }
}
