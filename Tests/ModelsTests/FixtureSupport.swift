// Helpers for reading the golden fixtures written by tools/make_fixtures.py.
import Foundation
import Models
import Tensor

enum Fixtures {
    static var root: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(path))) as! [String: Any]
    }

    struct ImageEntry: Decodable {
        let name: String
        let width: Int
        let height: Int
    }

    /// The test images as raw RGB8 (the .bin beside each PNG), so no image decoder is needed.
    static func images() throws -> [(name: String, image: RGBImage)] {
        let entries = try JSONDecoder().decode([ImageEntry].self, from: Data(contentsOf: url("images/images.json")))
        return try entries.map { e in
            let bytes = try Data(contentsOf: url("images/\(e.name).bin"))
            return (e.name, RGBImage(width: e.width, height: e.height, pixels: [UInt8](bytes)))
        }
    }

    static func float32(_ path: String) throws -> [Float] {
        let d = try Data(contentsOf: url(path))
        return d.withUnsafeBytes { raw in (0..<(d.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    static func matrix(_ any: Any?) -> [[Float]] {
        (any as! [[Any]]).map { row in row.map { Float(($0 as! NSNumber).doubleValue) } }
    }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

func maxAbsDiff(_ a: [[Float]], _ b: [[Float]]) -> Float {
    precondition(a.count == b.count, "rows \(a.count) vs \(b.count)")
    return zip(a, b).map { maxAbsDiff($0, $1) }.max() ?? 0
}
