/// The route whitelist: maps a request path to its route, longest match first.
///
/// Built once per configuration snapshot. Exact routes are a dictionary lookup; prefix routes are
/// kept longest first, so the first prefix that matches is the longest one.
public struct RouteTable: Sendable {
    private let exact: [String: Int]
    private let prefixes: [(prefix: String, index: Int)]
    /// The routes, in configuration order.
    public let routes: [RouteConfiguration]

    /// Builds the table.
    public init(routes: [RouteConfiguration]) {
        self.routes = routes
        var exact: [String: Int] = [:]
        var prefixes: [(String, Int)] = []
        for (index, route) in routes.enumerated() {
            switch route.pattern {
            case .exact(let path):
                if exact[path] == nil { exact[path] = index }
            case .prefix(let path):
                prefixes.append((path, index))
            }
        }
        self.exact = exact
        self.prefixes = prefixes.sorted { $0.0.utf8.count > $1.0.utf8.count }
    }

    /// The index of the route serving `path` (no query string), or nil.
    ///
    /// An exact route wins over a prefix; among prefixes the longest wins. A prefix `/a/b`
    /// matches `/a/b` and `/a/b/…`, never `/a/bc`.
    public func matchIndex(path: Substring) -> Int? {
        if let index = exact[String(path)] { return index }
        for (prefix, index) in prefixes {
            guard path.utf8.starts(with: prefix.utf8) else { continue }
            let rest = path.utf8.dropFirst(prefix.utf8.count)
            if rest.isEmpty || rest.first == UInt8(ascii: "/") || prefix.hasSuffix("/") {
                return index
            }
        }
        return nil
    }

    /// The route serving `path` (no query string), or nil.
    public func match(path: Substring) -> RouteConfiguration? {
        matchIndex(path: path).map { routes[$0] }
    }
}
