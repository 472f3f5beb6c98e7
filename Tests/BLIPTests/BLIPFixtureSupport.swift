// Helpers for reading the golden fixtures written by tools/make_blip_fixtures.py.
import Foundation
import Models
import Tensor

enum BLIPFixtures {
    static var root: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(path))) as! [String: Any]
    }

    struct ImageEntry: Decodable {
        let name: String
        let width: Int
        let height: Int
    }

    /// The test images as raw RGB8, so no image decoder is needed.
    static func images() throws -> [RGBImage] {
        let entries = try JSONDecoder().decode([ImageEntry].self, from: Data(contentsOf: url("images/images.json")))
        return try entries.map { e in
            RGBImage(width: e.width, height: e.height, pixels: [UInt8](try Data(contentsOf: url("images/\(e.name).bin"))))
        }
    }

    static func float32(_ path: String) throws -> [Float] {
        let d = try Data(contentsOf: url(path))
        return d.withUnsafeBytes { raw in (0..<(d.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    static func referencePixels(_ model: String) throws -> Tensor {
        let shape = try json("\(model)/expected.json")["pixel_values_shape"] as? [Int]
            ?? [6, 3, 32, 32]
        return Tensor(shape: shape, data: try float32("blip-cap-tiny/pixel_values.f32"))
    }

    static func floats(_ any: Any?) -> [Float] { (any as! [Any]).map { Float(($0 as! NSNumber).doubleValue) } }
    static func matrix(_ any: Any?) -> [[Float]] { (any as! [Any]).map { floats($0) } }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

func maxAbsDiff(_ a: [[Float]], _ b: [[Float]]) -> Float {
    precondition(a.count == b.count, "rows \(a.count) vs \(b.count)")
    return zip(a, b).map { maxAbsDiff($0, $1) }.max() ?? 0
}
