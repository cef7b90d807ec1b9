/// A refused admin request: 400 with `{"error": …, "field": …}`.
public struct AdminRequestError: Error, Sendable, Equatable {
    /// The field at fault, when one is.
    public let field: String?
    /// What is wrong, never quoting a secret.
    public let message: String

    /// Creates an error.
    public init(field: String?, _ message: String) {
        self.field = field
        self.message = message
    }

    /// The response body.
    var jsonBody: String {
        var out = JSONObjectWriter()
        out.add("error", message)
        out.add("field", field)
        return out.text
    }
}
