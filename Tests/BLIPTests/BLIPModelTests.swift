import Foundation
import Models
import Tensor
import XCTest

/// Golden tests against transformers on the tiny random checkpoints (tolerance 1e-4 max abs).
final class BLIPModelTests: XCTestCase {
    func testImageProcessorMatchesPillowProcessor() throws {
        let model = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"))
        let pixels = try model.processor.preprocess(try BLIPFixtures.images())
        let expected = try BLIPFixtures.float32("blip-cap-tiny/pixel_values.f32")
        let d = maxAbsDiff(pixels.data, expected)
        print("BLIP image processor: pixel_values \(pixels.shape) max |Δ| \(d)")
        XCTAssertLessThan(d, 1e-5)
    }

    func testVisionHiddenStatesMatch() throws {
        let model = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"))
        let h = try model.visionHiddenStates(pixelValues: try BLIPFixtures.referencePixels("blip-cap-tiny"))
        let d = maxAbsDiff(h.data, try BLIPFixtures.float32("blip-cap-tiny/vision_last_hidden_state.f32"))
        print("BLIP vision last_hidden_state \(h.shape): max |Δ| \(d)")
        XCTAssertLessThan(d, 1e-4)
    }

    func testDecoderLogitsMatchWithAndWithoutCache() throws {
        let model = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"))
        let expected = try BLIPFixtures.json("blip-cap-tiny/expected.json")
        let ids = expected["teacher_input_ids"] as! [[Int]]
        let all = try BLIPFixtures.referencePixels("blip-cap-tiny")
        let pixels = Tensor(shape: [2] + Array(all.shape.dropFirst()), data: Array(all.data.prefix(2 * all.count / all.shape[0])))
        let reference = try BLIPFixtures.float32("blip-cap-tiny/decoder_logits.f32")
        let full = try model.decoderLogits(pixelValues: pixels, inputIDs: ids)
        let stepwise = try model.decoderLogits(pixelValues: pixels, inputIDs: ids, stepwise: true)
        let d1 = maxAbsDiff(full.data, reference), d2 = maxAbsDiff(stepwise.data, reference)
        print("BLIP decoder logits \(full.shape): max |Δ| \(d1) (one pass), \(d2) (KV cache, token by token); |logit| up to \(reference.map(abs).max()!)")
        XCTAssertLessThan(d1, 1e-4)
        XCTAssertLessThan(d2, 1e-4)
    }

    func testITMAndITCMatch() throws {
        let model = try BLIPRetrieval.load(directory: BLIPFixtures.url("blip-itm-tiny"), batchSize: 4)
        let expected = try BLIPFixtures.json("blip-itm-tiny/expected.json")
        let texts = expected["texts"] as! [String]
        let images = try BLIPFixtures.images()
        let perImage = Array(repeating: texts, count: images.count)
        let itm = try model.itm(images, texts: perImage)
        let itc = try model.itc(images, texts: perImage)
        let dITM = maxAbsDiff(itm, BLIPFixtures.matrix(expected["itm_probability"]))
        let dITC = maxAbsDiff(itc, BLIPFixtures.matrix(expected["itc_cosine"]))
        print("BLIP ITM probability max |Δ| \(dITM), ITC cosine max |Δ| \(dITC) (\(images.count) images × \(texts.count) texts)")
        XCTAssertLessThan(dITM, 1e-4)
        XCTAssertLessThan(dITC, 1e-4)
        // Both from one vision pass, as the filter stage asks for them.
        let both = try model.itmAndITC(images, texts: perImage)
        XCTAssertLessThan(maxAbsDiff(both.itm, itm), 1e-6)
        XCTAssertLessThan(maxAbsDiff(both.itc, itc), 1e-6)
        // Ragged text lists: each image's own texts, some empty.
        let ragged = try model.itm(Array(images.prefix(3)), texts: [[texts[1]], [], [texts[3], texts[0]]])
        let full = BLIPFixtures.matrix(expected["itm_probability"])
        XCTAssertEqual(ragged[1].count, 0)
        XCTAssertLessThan(maxAbsDiff(ragged[0] + ragged[2], [full[0][1], full[2][3], full[2][0]]), 1e-4)
    }

    /// The filter scores all texts of a frame as one packed batch (no padding rows, the frame's
    /// cross-attention keys/values projected once per layer for all of them). Each text scored
    /// alone — a batch of one, nothing to pad, its own projection — must give the same numbers,
    /// for texts of very different lengths and for several frames in one call.
    func testTextsOfAFrameScoredAsOneBatchEqualEachAlone() throws {
        let model = try BLIPRetrieval.load(directory: BLIPFixtures.url("blip-itm-tiny"), batchSize: 4)
        let texts = ["a", "", "Two dogs playing in the snow!", "a picture of a cat",
                     "a red car parked beside the river on a grey morning while two dogs play in the snow near a cat",
                     "Straße über Café — naïve résumé 日本"]
        let lengths = texts.map { model.tokenizer.encode($0).count }
        XCTAssertGreaterThan(lengths.max()! - lengths.min()!, 15, "lengths \(lengths)")
        let images = Array(try BLIPFixtures.images().prefix(3))
        // Frame 0 with all texts, frame 1 with none, frame 2 with three of them in another order.
        let perImage = [texts, [], [texts[4], texts[0], texts[2]]]
        let batched = try model.itmAndITC(images, texts: perImage)
        var dITM: Float = 0, dITC: Float = 0
        for (i, ts) in perImage.enumerated() {
            XCTAssertEqual(batched.itm[i].count, ts.count)
            for (j, t) in ts.enumerated() {
                let alone = try model.itmAndITC([images[i]], texts: [[t]])
                dITM = max(dITM, abs(batched.itm[i][j] - alone.itm[0][0]))
                dITC = max(dITC, abs(batched.itc[i][j] - alone.itc[0][0]))
            }
        }
        print("BLIP one batch per frame vs each text alone (token lengths \(lengths)): ITM probability max |Δ| \(dITM), ITC cosine max |Δ| \(dITC)")
        XCTAssertLessThan(dITM, 1e-5)
        XCTAssertLessThan(dITC, 1e-5)
    }

    func testModelIDsAndStrictLoading() throws {
        let a = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"))
        let b = try BLIPRetrieval.load(directory: BLIPFixtures.url("blip-itm-tiny"))
        XCTAssertTrue(a.modelID.hasPrefix("blip-cap-tiny-"), a.modelID)
        XCTAssertEqual(a.modelID.count, "blip-cap-tiny-".count + 12)
        XCTAssertNotEqual(a.modelID.suffix(12), b.modelID.suffix(12))
        // The retrieval checkpoint is not a captioning one: loading it as such names what is missing.
        XCTAssertThrowsError(try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-itm-tiny"))) { error in
            XCTAssertTrue("\(error)".contains("text_decoder.bert.embeddings.word_embeddings.weight"), "\(error)")
        }
        XCTAssertThrowsError(try BLIPRetrieval.load(directory: BLIPFixtures.url("blip-cap-tiny"))) { error in
            XCTAssertTrue("\(error)".contains("text_encoder."), "\(error)")
        }
        print("modelIDs: \(a.modelID), \(b.modelID)")
    }
}
