import Foundation
import Models
import Tensor
import XCTest

/// Random-weight checkpoints at blip-image-captioning-base / blip-itm-base-coco size, written with
/// transformers' outputs by tools/fullsize_blip.py. Not part of CI (0.9 GB per checkpoint): runs
/// only when BLIP_FULLSIZE_DIR names that script's output folder.
final class BLIPFullSizeTests: XCTestCase {
    func testFullSizeMatchesTransformers() throws {
        guard let root = ProcessInfo.processInfo.environment["BLIP_FULLSIZE_DIR"] else {
            throw XCTSkip("set BLIP_FULLSIZE_DIR to the output of tools/fullsize_blip.py")
        }
        let dir = URL(fileURLWithPath: root)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("expected.json"))) as! [String: Any]
        let images = try (expected["images"] as! [[String: Any]]).map { e -> RGBImage in
            let name = e["name"] as! String
            return RGBImage(width: e["width"] as! Int, height: e["height"] as! Int,
                            pixels: [UInt8](try Data(contentsOf: dir.appendingPathComponent("images/\(name).bin"))))
        }
        let cap = try BLIPCaptioner.load(directory: dir.appendingPathComponent("caption"))
        let pixels = try cap.processor.preprocess(images)
        let vision = try cap.visionHiddenStates(pixelValues: pixels)
        let tokens = vision.rows / images.count, d = vision.lastDim
        let firstTokens = (0..<images.count).map { Array(vision.data[($0 * tokens * d)..<(($0 * tokens + 8) * d)]) }
        let dVision = maxAbsDiff(firstTokens, BLIPFixtures.matrix(expected["vision_first_tokens"]))
        let teacher = expected["teacher_input_ids"] as! [[Int]]
        let logits = try cap.decoderLogits(pixelValues: pixels, inputIDs: teacher, stepwise: true)
        let t = teacher[0].count
        let last = (0..<images.count).map { logits.row($0 * t + t - 1) }
        let dLogits = maxAbsDiff(last, BLIPFixtures.matrix(expected["decoder_last_logits"]))
        var lines = [String(format: "vision last_hidden_state max |Δ| %.2g, decoder logits max |Δ| %.2g", dVision, dLogits)]
        XCTAssertLessThan(dVision, 1e-4)
        XCTAssertLessThan(dLogits, 1e-4)

        let sep = cap.config.textConfig.sepTokenId, pad = cap.config.textConfig.padTokenId
        for (name, g) in (expected["generate"] as! [String: [String: Any]]).sorted(by: { $0.key < $1.key }) {
            let beams = g["num_beams"] as? Int ?? 1
            let sequences = g["sequences"] as! [[Int]]
            let settings = CaptionSettings(strategy: beams > 1 ? .beam(numBeams: beams, lengthPenalty: 1, earlyStopping: .heuristic) : .greedy,
                                           maxNewTokens: 20, prompt: g["prompt"] as? String, numCaptions: sequences.count / images.count)
            let flat = try cap.generate(pixelValues: pixels, settings: settings).flatMap { $0 }
            var same = 0
            for (c, seq) in zip(flat, sequences) {
                let fill = seq.dropFirst(c.tokens.count)
                if Array(seq.prefix(c.tokens.count)) == c.tokens && fill.allSatisfy({ $0 == pad || $0 == sep }) { same += 1 }
            }
            var line = "\(name): \(same)/\(sequences.count) token-identical"
            if let scores = g["sequences_scores"] as? [Any] {
                line += String(format: ", scores max |Δ| %.2g", maxAbsDiff(flat.map(\.score), BLIPFixtures.floats(scores)))
            }
            if let m = g["min_margin"] as? Double { line += String(format: " (smallest top-2 logit margin %.3g)", m) }
            lines.append(line + " — \(flat.first!.text)")
            XCTAssertEqual(same, sequences.count, name)
        }

        let itmModel = try BLIPRetrieval.load(directory: dir.appendingPathComponent("itm"))
        let texts = expected["texts"] as! [String]
        let perImage = Array(repeating: texts, count: images.count)
        let dITM = maxAbsDiff(try itmModel.itm(images, texts: perImage), BLIPFixtures.matrix(expected["itm_probability"]))
        let dITC = maxAbsDiff(try itmModel.itc(images, texts: perImage), BLIPFixtures.matrix(expected["itc_cosine"]))
        lines.append(String(format: "ITM probability max |Δ| %.2g, ITC cosine max |Δ| %.2g", dITM, dITC))
        XCTAssertLessThan(dITM, 1e-4)
        XCTAssertLessThan(dITC, 1e-4)
        print("BLIP full size vs transformers:\n  " + lines.joined(separator: "\n  "))
    }
}
