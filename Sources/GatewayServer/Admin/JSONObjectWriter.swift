import GatewayText

/// Builds one compact JSON object member by member; nil values are left out.
struct JSONObjectWriter {
    private var members: [String] = []

    mutating func add(_ name: String, _ value: String?) {
        guard let value else { return }
        members.append("\(JSONText.quoted(name)):\(JSONText.quoted(value))")
    }

    mutating func add(_ name: String, _ value: Int64?) {
        guard let value else { return }
        members.append("\(JSONText.quoted(name)):\(value)")
    }

    mutating func add(_ name: String, raw value: String?) {
        guard let value else { return }
        members.append("\(JSONText.quoted(name)):\(value)")
    }

    var text: String { "{" + members.joined(separator: ",") + "}" }
}
