/// The last `capacity` elements appended, oldest first: a ring that overwrites its oldest slot
/// once full, so keeping "the most recent N" costs no shifting and no growth. The one ring for the
/// admin `/rejections` window (`RejectionLog`) and `wsgate rejections --last`.
public struct RecentWindow<Element> {
    /// How many are kept; nil keeps all.
    public let capacity: Int?
    private var storage: [Element] = []
    /// Where the oldest element is, once the ring is full.
    private var start = 0

    /// An empty window of `capacity` elements (nil: unbounded; 0: keeps nothing).
    public init(capacity: Int?) {
        self.capacity = capacity.map { max(0, $0) }
    }

    /// Keeps `element`, forgetting the oldest when full.
    public mutating func append(_ element: Element) {
        guard let capacity else {
            storage.append(element)
            return
        }
        guard capacity > 0 else { return }
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[start] = element
            start = (start + 1) % capacity
        }
    }

    /// How many are kept now.
    public var count: Int { storage.count }

    /// The kept elements, oldest first.
    public var elements: [Element] {
        Array(storage[start...] + storage[..<start])
    }

    /// The newest `limit` kept elements, oldest first.
    public func newest(_ limit: Int) -> [Element] {
        Array(elements.suffix(max(0, limit)))
    }
}

extension RecentWindow: Sendable where Element: Sendable {}
