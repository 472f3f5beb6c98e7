import Foundation
import Models
import Tensor
import XCTest

/// Strict loading of BLIP checkpoints, derived at test time from the good tiny fixtures: missing,
/// unused and misshapen tensors fail naming them; the LM head's tie to the word embeddings is
/// known by name rather than tolerated as "missing".
final class BLIPCheckpointTests: XCTestCase {
    func copyFixture(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-blip-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: BLIPFixtures.url(name), to: dir)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Rewrites model.safetensors' header with `edit` (which gets the header and the data bytes and
    /// may return bytes to append).
    func editCheckpoint(_ dir: URL, _ edit: (inout [String: Any], [UInt8]) -> [UInt8]) throws {
        let url = dir.appendingPathComponent("model.safetensors")
        let bytes = [UInt8](try Data(contentsOf: url))
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        var header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        let data = Array(bytes[(8 + n)...])
        let extra = edit(&header, data)
        var newHeader = try JSONSerialization.data(withJSONObject: header)
        while newHeader.count % 8 != 0 { newHeader.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(newHeader.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(newHeader)
        out.append(contentsOf: data + extra)
        try out.write(to: url)
    }

    func expectError(_ body: @autoclosure () throws -> Any, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = "\(error)"
            print("rejected as expected: \(message)")
            for m in mentions { XCTAssertTrue(message.contains(m), "\"\(message)\" does not mention \"\(m)\"", file: file, line: line) }
        }
    }

    func testMissingCrossAttentionTensor() throws {
        let dir = try copyFixture("blip-cap-tiny")
        try editCheckpoint(dir) { h, _ in h["text_decoder.bert.encoder.layer.1.crossattention.self.value.bias"] = nil; return [] }
        expectError(try BLIPCaptioner.load(directory: dir), mentions: ["text_decoder.bert.encoder.layer.1.crossattention.self.value.bias", "missing"])
    }

    func testUnusedTensor() throws {
        let dir = try copyFixture("blip-itm-tiny")
        try editCheckpoint(dir) { h, data in
            h["itm_head.extra"] = ["dtype": "F32", "shape": [1], "data_offsets": [data.count, data.count + 4]]
            return [0, 0, 128, 63]
        }
        expectError(try BLIPRetrieval.load(directory: dir), mentions: ["itm_head.extra", "not used"])
    }

    func testWrongShape() throws {
        let dir = try copyFixture("blip-cap-tiny")
        try editCheckpoint(dir) { h, _ in
            var e = h["vision_model.embeddings.position_embedding"] as! [String: Any]
            let shape = e["shape"] as! [Int]
            e["shape"] = [shape[1], shape[2]]   // same bytes, rank 2 instead of [1, N, D]
            h["vision_model.embeddings.position_embedding"] = e
            return []
        }
        expectError(try BLIPCaptioner.load(directory: dir), mentions: ["vision_model.embeddings.position_embedding", "shape"])
    }

    /// An exporter that also stores the tied decoder weight: accepted (checked for shape) and the
    /// tie still applies, as in from_pretrained; logits are unchanged.
    func testStoredTiedDecoderWeightIsAccepted() throws {
        let dir = try copyFixture("blip-cap-tiny")
        try editCheckpoint(dir) { h, data in
            let emb = h["text_decoder.bert.embeddings.word_embeddings.weight"] as! [String: Any]
            let off = emb["data_offsets"] as! [Int]
            h["text_decoder.cls.predictions.decoder.weight"] = ["dtype": "F32", "shape": emb["shape"]!,
                                                               "data_offsets": [data.count, data.count + off[1] - off[0]]]
            return Array(data[off[0]..<off[1]])
        }
        let tied = try BLIPCaptioner.load(directory: dir)
        let plain = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"))
        let pixels = try BLIPFixtures.referencePixels("blip-cap-tiny")
        let one = Tensor(shape: [1] + Array(pixels.shape.dropFirst()), data: Array(pixels.data.prefix(pixels.count / pixels.shape[0])))
        XCTAssertEqual(try tied.decoderLogits(pixelValues: one, inputIDs: [[tied.config.textConfig.bosTokenId, 7]]),
                       try plain.decoderLogits(pixelValues: one, inputIDs: [[plain.config.textConfig.bosTokenId, 7]]))
    }

    /// Without tie_word_embeddings the decoder weight is a tensor of its own and must be present.
    func testUntiedConfigNeedsDecoderWeight() throws {
        let dir = try copyFixture("blip-cap-tiny")
        let url = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        config["tie_word_embeddings"] = false
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        expectError(try BLIPCaptioner.load(directory: dir), mentions: ["text_decoder.cls.predictions.decoder.weight", "missing"])
    }

    func testTokenizerMustFitVocabulary() throws {
        let dir = try copyFixture("blip-cap-tiny")
        let url = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var text = config["text_config"] as! [String: Any]
        text["vocab_size"] = 100
        config["text_config"] = text
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        expectError(try BLIPCaptioner.load(directory: dir), mentions: ["vocab_size 100"])
    }
}
