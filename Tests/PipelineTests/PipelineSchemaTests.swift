import Foundation
import XCTest
import Yams
@testable import Pipeline

/// `schemas/pipeline.schema.json` is what editors check pipeline files with: it must accept every
/// shipped pipeline and README example, and know exactly the keys capfilt's reader knows per stage.
final class PipelineSchemaTests: XCTestCase {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func schema() throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent("schemas/pipeline.schema.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testEveryShippedPipelineAndREADMEExampleIsValid() throws {
        let schema = try schema()
        let folder = root.appendingPathComponent("pipelines")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            let value = SchemaCheck.plain(try XCTUnwrap(try Yams.load(yaml: String(contentsOf: folder.appendingPathComponent(f), encoding: .utf8)), f))
            XCTAssertEqual(SchemaCheck.errors(value, schema, root: schema), [], f)
        }
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = readme.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        XCTAssertGreaterThanOrEqual(blocks.count, 2)
        let stageItems = try XCTUnwrap(((schema["properties"] as? [String: Any])?["stages"] as? [String: Any])?["items"])
        for block in blocks {
            let value = SchemaCheck.plain(try XCTUnwrap(try Yams.load(yaml: block), block))
            // A block is a whole pipeline or a list of stages to append to one.
            let errors = value is [Any] ? (value as! [Any]).flatMap { SchemaCheck.errors($0, stageItems, root: schema) }
                                        : SchemaCheck.errors(value, schema, root: schema)
            XCTAssertEqual(errors, [], block)
        }
    }

    /// The checker can fail: a misspelt stage key and a wrong type are caught.
    func testTheSchemaRejectsUnknownKeysAndWrongTypes() throws {
        let schema = try schema()
        let bad = try Yams.load(yaml: """
            inputs: [{folder: x}]
            output: {dir: out}
            stages:
              - {stage: decode}
              - {stage: filter, model: m, treshold: 0.5}
              - {stage: score, model: m, min: high}
              - {stage: shout}
            """)
        let errors = SchemaCheck.errors(SchemaCheck.plain(try XCTUnwrap(bad)), schema, root: schema)
        XCTAssertTrue(errors.contains { $0.contains("stages[1]: unknown key 'treshold'") }, "\(errors)")
        XCTAssertTrue(errors.contains { $0.contains("stages[2].min: not a number") }, "\(errors)")
        XCTAssertTrue(errors.contains { $0.contains("stages[3].stage: not one of") }, "\(errors)")
    }

    /// Each stage's properties in the schema are exactly the keys its config reads.
    func testSchemaKeysEqualTheReadersKeys() throws {
        let items = try XCTUnwrap((((try schema())["properties"] as? [String: Any])?["stages"] as? [String: Any])?["items"] as? [String: Any])
        var found: [String: Set<String>] = [:]
        for clause in try XCTUnwrap(items["allOf"] as? [[String: Any]]) {
            let type = try XCTUnwrap((((clause["if"] as? [String: Any])?["properties"] as? [String: Any])?["stage"] as? [String: Any])?["const"] as? String)
            found[type] = Set(try XCTUnwrap((clause["then"] as? [String: Any])?["properties"] as? [String: Any]).keys)
        }
        var expected = [DecodeConfig.typeName: Set(DecodeConfig.keys + ["stage", "name"])]
        for (type, entry) in StageRegistry.standard.entries { expected[type] = Set(entry.keys + ["stage", "name"]) }
        XCTAssertEqual(found, expected)
        XCTAssertEqual(Set((((items["properties"] as? [String: Any])?["stage"] as? [String: Any])?["enum"] as? [String]) ?? []),
                       Set(StageRegistry.standard.names))
    }
}

/// The JSON Schema subset the pipeline schema uses: type, enum, const, pattern, minimum/maximum,
/// exclusiveMinimum, properties, required, additionalProperties: false, minProperties, items,
/// minItems/maxItems, oneOf, anyOf, allOf, if/then.
enum SchemaCheck {
    /// Yams gives mappings as [AnyHashable: Any]; the checker reads [String: Any].
    static func plain(_ v: Any) -> Any {
        if let m = v as? [AnyHashable: Any] {
            var out: [String: Any] = [:]
            for (k, x) in m { out["\(k.base)"] = plain(x) }
            return out
        }
        if let l = v as? [Any] { return l.map(plain) }
        return v
    }

    static func errors(_ value: Any, _ schemaAny: Any, root: [String: Any], at path: String = "") -> [String] {
        guard let s = schemaAny as? [String: Any] else { return [] }
        var out: [String] = []
        let here = path.isEmpty ? "(top)" : path
        if let t = s["type"] as? String, !has(type: t, value) { return ["\(here): not \(t == "integer" ? "an" : "a") \(t)"] }
        if let e = s["enum"] as? [Any], !e.contains(where: { equal($0, value) }) { out.append("\(here): not one of \(e)") }
        if let c = s["const"], !equal(c, value) { out.append("\(here): not \(c)") }
        if let p = s["pattern"] as? String, let str = value as? String, str.range(of: p, options: .regularExpression) == nil {
            out.append("\(here): '\(str)' does not match \(p)")
        }
        if let n = number(value) {
            if let m = s["minimum"].flatMap(number), n < m { out.append("\(here): below \(m)") }
            if let m = s["maximum"].flatMap(number), n > m { out.append("\(here): above \(m)") }
            if let m = s["exclusiveMinimum"].flatMap(number), n <= m { out.append("\(here): not above \(m)") }
        }
        if let object = value as? [String: Any] { out += objectErrors(object, s, root: root, at: path) }
        if let list = value as? [Any] {
            if let m = s["minItems"] as? Int, list.count < m { out.append("\(here): fewer than \(m) items") }
            if let m = s["maxItems"] as? Int, list.count > m { out.append("\(here): more than \(m) items") }
            if let items = s["items"] { for (i, v) in list.enumerated() { out += errors(v, items, root: root, at: "\(path)[\(i)]") } }
        }
        if let one = s["oneOf"] as? [Any] {
            let passing = one.filter { errors(value, $0, root: root, at: path).isEmpty }.count
            if passing != 1 { out.append("\(here): matches \(passing) of the oneOf forms, not one") }
        }
        if let any = s["anyOf"] as? [Any], !any.contains(where: { errors(value, $0, root: root, at: path).isEmpty }) {
            out.append("\(here): matches none of the anyOf forms")
        }
        for clause in s["allOf"] as? [[String: Any]] ?? [] { out += errors(value, clause, root: root, at: path) }
        if let cond = s["if"], errors(value, cond, root: root, at: path).isEmpty, let then = s["then"] {
            out += errors(value, then, root: root, at: path)
        }
        return out
    }

    private static func objectErrors(_ object: [String: Any], _ s: [String: Any], root: [String: Any], at path: String) -> [String] {
        var out: [String] = []
        let here = path.isEmpty ? "(top)" : path
        let properties = s["properties"] as? [String: Any] ?? [:]
        for r in s["required"] as? [String] ?? [] where object[r] == nil { out.append("\(here): missing '\(r)'") }
        if let m = s["minProperties"] as? Int, object.count < m { out.append("\(here): fewer than \(m) keys") }
        for (k, v) in object.sorted(by: { $0.key < $1.key }) {
            if let sub = properties[k] { out += errors(v, sub, root: root, at: path.isEmpty ? k : "\(path).\(k)") }
            else if s["additionalProperties"] as? Bool == false { out.append("\(here): unknown key '\(k)'") }
        }
        return out
    }

    private static func has(type: String, _ v: Any) -> Bool {
        switch type {
        case "object": return v is [String: Any]
        case "array": return v is [Any]
        case "string": return v is String
        case "boolean": return v is Bool
        case "integer": return v is Int
        case "number": return number(v) != nil
        default: return true
        }
    }

    /// Pipeline values come from Yams (native Bool, Int, Double); schema values from JSONSerialization.
    private static func number(_ v: Any) -> Double? {
        if type(of: v) == Bool.self { return nil }
        if let i = v as? Int { return Double(i) }
        return v as? Double
    }

    private static func equal(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = number(a), let y = number(b) { return x == y }
        if let x = a as? Bool, let y = b as? Bool { return x == y }
        return false
    }
}
