import Foundation
import Models
import Tensor
import XCTest

/// Golden tests against transformers' CLIPModel on the tiny random checkpoints: one with exact
/// GELU, F32 weights and legacy argmax pooling; one with quick_gelu, F16 weights and first-eos
/// pooling. Tolerance 1e-4 max abs on embeddings and logits.
final class CLIPModelTests: XCTestCase {
    static let fixtures = ["clip-tiny-gelu", "clip-tiny-quick"]

    func testEmbeddingsAndLogitsMatchTransformers() throws {
        let images = try Fixtures.images().map(\.image)
        for name in Self.fixtures {
            // batchSize 3 so that 8 images / 6 texts span several batches, including a short one.
            let model = try CLIPModel.load(directory: Fixtures.url(name), batchSize: 3)
            let expected = try Fixtures.json("\(name)/expected.json")
            let texts = expected["texts"] as! [String]

            let imageEmbeds = try model.imageEmbeddings(images)
            let textEmbeds = try model.textEmbeddings(texts)
            let logits = model.logits(imageEmbeddings: imageEmbeds, textEmbeddings: textEmbeds)

            let dImage = maxAbsDiff(imageEmbeds, Fixtures.matrix(expected["image_embeds"]))
            let dText = maxAbsDiff(textEmbeds, Fixtures.matrix(expected["text_embeds"]))
            let dLogits = maxAbsDiff(logits, Fixtures.matrix(expected["logits_per_image"]))
            let dScale = abs(model.logitScale - Float((expected["logit_scale"] as! NSNumber).doubleValue))
            print("\(name): max |Δ| image_embeds \(dImage), text_embeds \(dText), logits_per_image \(dLogits), logit_scale \(dScale)")
            XCTAssertLessThan(dImage, 1e-4, name)
            XCTAssertLessThan(dText, 1e-4, name)
            XCTAssertLessThan(dLogits, 1e-4, name)
            XCTAssertLessThan(dScale, 1e-5, name)
        }
    }

    /// The vision tower alone on transformers' own pixel_values, isolating it from preprocessing.
    func testImageEmbeddingsFromReferencePixels() throws {
        for name in Self.fixtures {
            let model = try CLIPModel.load(directory: Fixtures.url(name))
            let expected = try Fixtures.json("\(name)/expected.json")
            let shape = expected["pixel_values_shape"] as! [Int]
            let pixels = Tensor(shape: shape, data: try Fixtures.float32("\(name)/pixel_values.f32"))
            let e = try model.imageEmbeddings(pixelValues: pixels)
            let d = maxAbsDiff((0..<e.rows).map { e.row($0) }, Fixtures.matrix(expected["image_embeds"]))
            print("\(name): vision tower on reference pixel_values max |Δ| \(d)")
            XCTAssertLessThan(d, 1e-4)
        }
    }

    /// The padded ids transformers fed the model, unpadded, are what our tokenizer produces.
    func testModelInputIdsMatch() throws {
        for name in Self.fixtures {
            let model = try CLIPModel.load(directory: Fixtures.url(name))
            let expected = try Fixtures.json("\(name)/expected.json")
            let texts = expected["texts"] as! [String]
            let ids = expected["input_ids"] as! [[Int]]
            let masks = expected["attention_mask"] as! [[Int]]
            for (i, text) in texts.enumerated() {
                let n = masks[i].reduce(0, +)
                XCTAssertEqual(model.tokenizer.encode(text), Array(ids[i].prefix(n)), text)
            }
        }
    }

    func testBatchingDoesNotChangeResults() throws {
        let images = try Fixtures.images().map(\.image)
        let one = try CLIPModel.load(directory: Fixtures.url("clip-tiny-quick"), batchSize: 1)
        let all = try CLIPModel.load(directory: Fixtures.url("clip-tiny-quick"), batchSize: 32)
        let d = maxAbsDiff(try one.imageEmbeddings(images), try all.imageEmbeddings(images))
        let texts = ["a", "a much longer caption about a dog", "🐶"]
        let dt = maxAbsDiff(try one.textEmbeddings(texts), try all.textEmbeddings(texts))
        print("batch 1 vs 32: max |Δ| images \(d), texts \(dt)")
        XCTAssertLessThan(d, 1e-5)
        XCTAssertLessThan(dt, 1e-5)
    }

    func testModelIDNamesFolderAndFingerprint() throws {
        let a = try CLIPModel.load(directory: Fixtures.url("clip-tiny-gelu"))
        let b = try CLIPModel.load(directory: Fixtures.url("clip-tiny-quick"))
        XCTAssertTrue(a.modelID.hasPrefix("clip-tiny-gelu-"), a.modelID)
        XCTAssertEqual(a.modelID.count, "clip-tiny-gelu-".count + 12)
        XCTAssertNotEqual(a.modelID.suffix(12), b.modelID.suffix(12))
        print("modelIDs: \(a.modelID), \(b.modelID)")
    }
}
