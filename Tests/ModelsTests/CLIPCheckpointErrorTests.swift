import Foundation
import Models
import Tensor
import XCTest

/// Broken or mismatched checkpoints, derived at test time from the good tiny fixture, must fail
/// to load with an error that names the problem.
final class CLIPCheckpointErrorTests: XCTestCase {
    /// A private copy of the fixture folder to damage.
    func copyFixture(_ name: String = "clip-tiny-gelu") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-ckpt-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Fixtures.url(name), to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Rewrites model.safetensors' JSON header with `edit`, optionally appending data bytes.
    func editHeader(_ dir: URL, appending extra: [UInt8] = [], _ edit: (inout [String: Any], Int) -> Void) throws {
        let url = dir.appendingPathComponent("model.safetensors")
        let bytes = [UInt8](try Data(contentsOf: url))
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        var header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        let data = Array(bytes[(8 + n)...])
        edit(&header, data.count)
        var newHeader = try JSONSerialization.data(withJSONObject: header)
        while newHeader.count % 8 != 0 { newHeader.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(newHeader.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(newHeader)
        out.append(contentsOf: data + extra)
        try out.write(to: url)
    }

    func expectLoadError(_ dir: URL, mentions fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try CLIPModel.load(directory: dir), file: file, line: line) { error in
            let message = String(describing: error)
            print("rejected as expected: \(message)")
            for f in fragments {
                XCTAssertTrue(message.contains(f), "\"\(message)\" does not mention \"\(f)\"", file: file, line: line)
            }
        }
    }

    func testGoodCopyLoads() throws {
        XCTAssertNoThrow(try CLIPModel.load(directory: try copyFixture()))
    }

    func testMissingTensor() throws {
        let dir = try copyFixture()
        try editHeader(dir) { h, _ in h["text_model.final_layer_norm.bias"] = nil }
        expectLoadError(dir, mentions: ["text_model.final_layer_norm.bias", "missing"])
    }

    func testUnusedTensor() throws {
        let dir = try copyFixture()
        try editHeader(dir, appending: [0, 0, 128, 63]) { h, size in
            h["vision_model.encoder.layers.0.mlp.fc3.weight"] = ["dtype": "F32", "shape": [1], "data_offsets": [size, size + 4]]
        }
        expectLoadError(dir, mentions: ["vision_model.encoder.layers.0.mlp.fc3.weight", "not used"])
    }

    func testWrongShape() throws {
        let dir = try copyFixture()
        try editHeader(dir) { h, _ in
            var e = h["visual_projection.weight"] as! [String: Any]
            e["shape"] = [48, 16]   // transposed: same byte count, wrong layout
            h["visual_projection.weight"] = e
        }
        expectLoadError(dir, mentions: ["visual_projection.weight", "[48, 16]", "[16, 48]"])
    }

    func testShapeDisagreesWithByteCount() throws {
        let dir = try copyFixture()
        try editHeader(dir) { h, _ in
            var e = h["logit_scale"] as! [String: Any]
            e["shape"] = [2]
            h["logit_scale"] = e
        }
        expectLoadError(dir, mentions: ["logit_scale", "needs 8 bytes"])
    }

    func testTruncatedWeights() throws {
        let dir = try copyFixture()
        let url = dir.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count / 2).write(to: url)
        expectLoadError(dir, mentions: ["model.safetensors", "out of bounds"])
    }

    func testCorruptHeader() throws {
        let dir = try copyFixture()
        let url = dir.appendingPathComponent("model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[8] = UInt8(ascii: "[")   // the header's opening brace
        bytes[9] = UInt8(ascii: "}")
        try Data(bytes).write(to: url)
        expectLoadError(dir, mentions: ["model.safetensors", "not valid JSON"])
    }

    func testConfigDoesNotMatchWeights() throws {
        let dir = try copyFixture()
        let url = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var text = config["text_config"] as! [String: Any]
        text["num_hidden_layers"] = 3
        config["text_config"] = text
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        expectLoadError(dir, mentions: ["text_model.encoder.layers.2.self_attn.q_proj.weight", "missing"])
    }

    func testWrongModelType() throws {
        let dir = try copyFixture()
        let url = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        config["model_type"] = "siglip"
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        expectLoadError(dir, mentions: ["config.json", "siglip"])
    }

    func testMissingFiles() throws {
        for file in ["vocab.json", "merges.txt", "preprocessor_config.json", "model.safetensors", "config.json"] {
            let dir = try copyFixture()
            try FileManager.default.removeItem(at: dir.appendingPathComponent(file))
            expectLoadError(dir, mentions: [file])
        }
    }

    func testModelIDChangesWithWeights() throws {
        let dir = try copyFixture()
        let before = try CLIPModel.load(directory: dir).modelID
        let url = dir.appendingPathComponent("model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[bytes.count - 3] ^= 0x01   // a low mantissa bit of the last tensor
        try Data(bytes).write(to: url)
        let after = try CLIPModel.load(directory: dir).modelID
        print("modelID before/after changing one weight: \(before) / \(after)")
        XCTAssertNotEqual(before, after)
        XCTAssertEqual(before.prefix(while: { $0 != "-" }), after.prefix(while: { $0 != "-" }))
    }

    func testF16CheckpointLoadsSameAsItsF32Values() throws {
        // clip-tiny-quick stores F16; its golden test already proves the conversion end to end.
        let st = try SafeTensors(url: Fixtures.url("clip-tiny-quick/model.safetensors"))
        XCTAssertTrue(st.tensors.values.allSatisfy { $0.dtype == .F16 })
    }
}
