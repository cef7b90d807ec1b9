/// The admin dashboard's static files (README "Dashboard"): `GET /`, `/ui/app.js`,
/// `/ui/app.css`, `/ui/icon.svg`, nothing else. They hold no data, so they load without the admin token (the
/// page asks for it); every data call the page makes is authenticated like any admin request.
enum DashboardPage {
    /// One static file.
    struct Asset: Sendable {
        /// The `Content-Type`.
        let contentType: String
        /// The file.
        let body: String
    }

    /// Exactly the paths the static files are served on (and the only ones the admin
    /// authenticator lets through besides the probes).
    static let paths: Set<Substring> = ["/", "/ui/app.js", "/ui/app.css", "/ui/icon.svg"]

    /// Headers on every admin response. The page runs only its own script and style
    /// (`default-src 'self'`, no inline code: CSP Level 3), may not be framed (clickjacking:
    /// `frame-ancestors` and, for older browsers, `X-Frame-Options`, RFC 7034), is never
    /// content-sniffed, and sends no `Referer`.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]

    /// The page tells its script whether to ask for a token first, so an open admin listener
    /// shows data at once and a protected one makes no request bound to fail.
    private static let pageWithAuthentication = DashboardAssets.indexHTML.replacingOccurrences(of: "@ADMIN_AUTH@", with: "required")
    private static let pageWithoutAuthentication = DashboardAssets.indexHTML.replacingOccurrences(of: "@ADMIN_AUTH@", with: "none")

    /// The file served at `path`, or nil when `path` is not one of `paths`.
    static func asset(path: Substring, authentication: Bool) -> Asset? {
        switch path {
        case "/": Asset(contentType: "text/html; charset=utf-8", body: authentication ? pageWithAuthentication : pageWithoutAuthentication)
        case "/ui/app.js": Asset(contentType: "text/javascript; charset=utf-8", body: DashboardAssets.appJS)
        case "/ui/app.css": Asset(contentType: "text/css; charset=utf-8", body: DashboardAssets.appCSS)
        // Named by the page, so the browser does not ask for /favicon.ico (which needs the token).
        case "/ui/icon.svg": Asset(contentType: "image/svg+xml", body: DashboardAssets.iconSVG)
        default: nil
        }
    }
}
