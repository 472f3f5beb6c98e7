import Foundation
import Yams

/// A pipeline file problem, printed as `file:line:col: message` like a compiler's.
public struct SpecError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int
    public let column: Int
    public let message: String
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Strict reading of a composed YAML tree: every accessor knows the node's position, so any
/// unknown key, wrong type or missing field is reported where it is, with what is allowed.
public struct SpecNode {
    public let node: Node
    public let file: String
    /// Dotted path from the root, for messages.
    public let path: String

    public func error(_ message: String) -> SpecError {
        let mark = node.mark
        return SpecError(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message)
    }

    private var typeName: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s): return s.string.isEmpty ? "an empty value" : "'\(s.string)'"
        default: return "an alias"
        }
    }

    /// The keys of a mapping, checked against `allowed`; `required` keys must be present.
    public func mapping(allowed: [String], required: [String] = []) throws -> SpecMapping {
        guard case let .mapping(m) = node else {
            throw error("\(path) must be a mapping with keys: \(allowed.joined(separator: ", ")); found \(typeName)")
        }
        var entries: [String: SpecNode] = [:]
        var order: [String] = []
        for (k, v) in m {
            let keyNode = SpecNode(node: k, file: file, path: path)
            guard let key = k.string, case .scalar = k else { throw keyNode.error("\(path): keys must be plain strings") }
            guard allowed.contains(key) else {
                let hint = closest(key, allowed).map { " (did you mean '\($0)'?)" } ?? ""
                throw keyNode.error("unknown key '\(key)' \(path.isEmpty ? "at the top level" : "in \(path)")\(hint); allowed keys: \(allowed.joined(separator: ", "))")
            }
            guard entries[key] == nil else { throw keyNode.error("duplicate key '\(key)' \(path.isEmpty ? "at the top level" : "in \(path)")") }
            entries[key] = SpecNode(node: v, file: file, path: path.isEmpty ? key : "\(path).\(key)")
            order.append(key)
        }
        for r in required where entries[r] == nil {
            throw error("\(path.isEmpty ? "the pipeline" : path) is missing required key '\(r)'")
        }
        return SpecMapping(owner: self, entries: entries, order: order)
    }

    public func list() throws -> [SpecNode] {
        guard case let .sequence(s) = node else { throw error("\(path) must be a list; found \(typeName)") }
        return s.enumerated().map { SpecNode(node: $1, file: file, path: "\(path)[\($0)]") }
    }

    /// A string, or a list of strings.
    public func strings() throws -> [String] {
        if case .sequence = node { return try list().map { try $0.string() } }
        return [try string()]
    }

    public func string() throws -> String {
        guard case let .scalar(s) = node else { throw error("\(path) must be a string; found \(typeName)") }
        return s.string
    }

    public func double(min: Double? = nil, max: Double? = nil) throws -> Double {
        guard case let .scalar(s) = node, let v = Double(s.string), v.isFinite else {
            throw error("\(path) must be a number; found \(typeName)")
        }
        if let min, v < min { throw error("\(path) must be at least \(min); found \(v)") }
        if let max, v > max { throw error("\(path) must be at most \(max); found \(v)") }
        return v
    }

    public func int(min: Int? = nil, max: Int? = nil) throws -> Int {
        guard case let .scalar(s) = node, let v = Int(s.string) else {
            throw error("\(path) must be a whole number; found \(typeName)")
        }
        if let min, v < min { throw error("\(path) must be at least \(min); found \(v)") }
        if let max, v > max { throw error("\(path) must be at most \(max); found \(v)") }
        return v
    }

    public func bool() throws -> Bool {
        guard case let .scalar(s) = node else { throw error("\(path) must be true or false; found \(typeName)") }
        switch s.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("\(path) must be true or false; found '\(s.string)'")
        }
    }

    public func oneOf(_ allowed: [String]) throws -> String {
        let v = try string()
        guard allowed.contains(v) else {
            throw error("\(path) must be one of: \(allowed.joined(separator: ", ")); found '\(v)'")
        }
        return v
    }

    public var isNull: Bool {
        if case let .scalar(s) = node { return s.tag.rawValue == Tag.Name.null.rawValue || s.string == "~" || s.string == "null" }
        return false
    }

    public var isMapping: Bool { if case .mapping = node { return true }; return false }
    public var isScalar: Bool { if case .scalar = node { return true }; return false }

    private func closest(_ key: String, _ candidates: [String]) -> String? {
        func distance(_ a: String, _ b: String) -> Int {
            let a = Array(a), b = Array(b)
            var row = Array(0...b.count)
            for i in 1...max(1, a.count) where !a.isEmpty {
                var prev = row[0]; row[0] = i
                for j in 1...max(1, b.count) where !b.isEmpty {
                    let cur = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                    prev = cur
                }
            }
            return row[b.count]
        }
        let best = candidates.map { ($0, distance(key, $0)) }.min { $0.1 < $1.1 }
        return best.flatMap { $0.1 <= max(2, key.count / 3) ? $0.0 : nil }
    }
}

/// A checked mapping: values by key, in file order.
public struct SpecMapping {
    public let owner: SpecNode
    public let entries: [String: SpecNode]
    public let order: [String]
    public subscript(_ key: String) -> SpecNode? { entries[key] }
    public func required(_ key: String) throws -> SpecNode {
        guard let v = entries[key] else { throw owner.error("\(owner.path) is missing required key '\(key)'") }
        return v
    }
}

public enum SpecParser {
    /// Composes YAML text into a positioned tree; syntax errors carry file:line:col too.
    public static func root(yaml: String, file: String) throws -> SpecNode {
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw SpecError(file: file, line: 1, column: 1, message: "the pipeline file is empty")
            }
            return SpecNode(node: node, file: file, path: "")
        } catch let e as YamlError {
            throw SpecParser.convert(e, file: file, yaml: yaml)
        }
    }

    static func convert(_ error: YamlError, file: String, yaml: String = "") -> SpecError {
        switch error {
        case let .scanner(context, problem, mark, _):
            return SpecError(file: file, line: mark.line, column: mark.column, message: "YAML syntax: \(problem)\(context.map { " \($0.text)" } ?? "")")
        case let .parser(context, problem, mark, _):
            return SpecError(file: file, line: mark.line, column: mark.column, message: "YAML syntax: \(problem)\(context.map { " \($0.text)" } ?? "")")
        case let .composer(context, problem, mark, _):
            return SpecError(file: file, line: mark.line, column: mark.column, message: "YAML: \(problem)\(context.map { " \($0.text)" } ?? "")")
        case let .duplicatedKeysInMapping(duplicates, context):
            return duplicateKey(duplicates, first: context.mark, yaml: yaml, file: file)
        default:
            return SpecError(file: file, line: 1, column: 1, message: "YAML: \(error)")
        }
    }

    /// Yams reports a duplicate key at its first occurrence with the whole file as context: point at
    /// the repeat instead (the next line holding the key at the same indentation), in one line.
    private static func duplicateKey(_ keys: [String], first: Mark, yaml: String, file: String) -> SpecError {
        let key = keys.first ?? "?"
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let indent = String(repeating: " ", count: max(0, first.column - 1))
        for n in first.line..<lines.count where lines[n].hasPrefix(indent + key + ":") || lines[n].hasPrefix(indent + "\"\(key)\":") {
            return SpecError(file: file, line: n + 1, column: first.column,
                             message: "duplicate key '\(key)' (first at line \(first.line)); a key may appear once in a mapping")
        }
        return SpecError(file: file, line: first.line, column: first.column,
                         message: "duplicate key '\(keys.joined(separator: "', '"))'; a key may appear once in a mapping")
    }
}
