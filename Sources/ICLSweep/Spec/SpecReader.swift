import Yams

/// An error in a sweep spec: file, line and field.
public struct SpecError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let field: String
    public let message: String
    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return field.isEmpty ? "\(place): \(message)" : "\(place): \(field): \(message)"
    }
}

/// Typed, position-aware reads from a YAML node: every error names the
/// file, the line and the dotted field path.
struct SpecReader {
    let file: String
    let node: Node
    package let path: String

    var line: Int? { node.mark?.line }

    func error(_ message: String, line: Int? = nil) -> SpecError {
        SpecError(file: file, line: line ?? self.line, field: path, message: message)
    }

    private func child(_ key: String, _ node: Node) -> SpecReader {
        SpecReader(file: file, node: node, path: path.isEmpty ? key : "\(path).\(key)")
    }

    /// The mapping's entries, refusing keys outside `allowed` and duplicates.
    func mapping(allowed: [String]) throws -> [String: SpecReader] {
        guard let mapping = node.mapping else { throw error("expected a mapping of \(allowed.joined(separator: ", "))") }
        var out: [String: SpecReader] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw error("keys must be plain names", line: key.mark?.line) }
            guard allowed.contains(name) else {
                let where_ = path.isEmpty ? "at the top level" : "in \(path)"
                throw SpecError(file: file, line: key.mark?.line, field: path.isEmpty ? name : "\(path).\(name)",
                                message: "unknown key \(where_) (expected one of: \(allowed.joined(separator: ", ")))")
            }
            if out[name] != nil {
                throw SpecError(file: file, line: key.mark?.line, field: path.isEmpty ? name : "\(path).\(name)",
                                message: "given twice")
            }
            out[name] = child(name, value)
        }
        return out
    }

    var isNull: Bool { node.scalar.map { $0.string == "null" || $0.string == "~" || $0.string.isEmpty } ?? false }

    func string() throws -> String {
        guard let s = node.scalar?.string, !s.isEmpty else { throw error("expected a text value") }
        return s
    }

    func int() throws -> Int {
        guard let s = node.scalar?.string else { throw error("expected a whole number") }
        let cleaned = s.replacingOccurrences(of: "_", with: "")
        if let v = Int(cleaned) { return v }
        // Allow 2e7-style counts when they are whole.
        if let d = Double(cleaned), d.rounded() == d, abs(d) < 1e15 { return Int(d) }
        throw error("expected a whole number, got '\(s)'")
    }

    func positiveInt() throws -> Int {
        let v = try int()
        guard v > 0 else { throw error("must be a positive number, got \(v)") }
        return v
    }

    func double() throws -> Double {
        guard let s = node.scalar?.string, let v = Double(s.replacingOccurrences(of: "_", with: "")) else {
            throw error("expected a number, got '\(node.scalar?.string ?? "a collection")'")
        }
        return v
    }

    func seed() throws -> UInt64 {
        let v = try int()
        guard v >= 0 else { throw error("seeds must not be negative, got \(v)") }
        return UInt64(v)
    }

    /// A non-empty list without duplicates, each element read by `element`.
    func list<T: Hashable>(_ element: (SpecReader) throws -> T) throws -> [T] {
        guard let sequence = node.sequence else { throw error("expected a list, e.g. [1, 2]") }
        guard !sequence.isEmpty else { throw error("must not be empty") }
        var out: [T] = []
        for (i, item) in sequence.enumerated() {
            let reader = SpecReader(file: file, node: item, path: "\(path)[\(i)]")
            let value = try element(reader)
            if out.contains(value) { throw SpecError(file: file, line: item.mark?.line, field: path, message: "duplicate value \(value)") }
            out.append(value)
        }
        return out
    }

    /// Every scalar under this node by dotted path, for comparing two specs.
    func flattened() -> [String: String] {
        var out: [String: String] = [:]
        func walk(_ node: Node, _ path: String) {
            if let m = node.mapping {
                for (k, v) in m { walk(v, path.isEmpty ? (k.string ?? "?") : "\(path).\(k.string ?? "?")") }
            } else if let s = node.sequence {
                out[path] = "[" + s.map { $0.scalar?.string ?? "?" }.joined(separator: ", ") + "]"
            } else {
                out[path] = node.scalar?.string ?? ""
            }
        }
        walk(node, "")
        return out
    }
}
