import Foundation
import Models
import Tensor
import XCTest

/// generate() against transformers: greedy and beam search token-identical, beam scores within 1e-4.
final class BLIPGenerationTests: XCTestCase {
    static func settings(_ kwargs: [String: Any], prompt: String?) -> CaptionSettings {
        func f(_ k: String, _ d: Float) -> Float { (kwargs[k] as? NSNumber).map { $0.floatValue } ?? d }
        func i(_ k: String, _ d: Int) -> Int { (kwargs[k] as? NSNumber).map { $0.intValue } ?? d }
        let beams = i("num_beams", 1)
        var early = CaptionSettings.EarlyStopping.heuristic
        if let s = kwargs["early_stopping"] as? String, s == "never" { early = .never }
        if let b = kwargs["early_stopping"] as? Bool, b { early = .whenFull }
        let strategy: CaptionSettings.Strategy = beams > 1
            ? .beam(numBeams: beams, lengthPenalty: f("length_penalty", 1), earlyStopping: early) : .greedy
        return CaptionSettings(strategy: strategy, repetitionPenalty: f("repetition_penalty", 1),
                               minNewTokens: i("min_new_tokens", 0), maxNewTokens: i("max_new_tokens", 20),
                               prompt: prompt, numCaptions: i("num_return_sequences", 1))
    }

    func testGreedyAndBeamSearchMatchTransformers() throws {
        let model = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"))
        let expected = try BLIPFixtures.json("blip-cap-tiny/expected.json")
        let pixels = try BLIPFixtures.referencePixels("blip-cap-tiny")
        let sep = model.config.textConfig.sepTokenId, pad = model.config.textConfig.padTokenId
        var summary: [String] = []
        for case_ in expected["generate"] as! [[String: Any]] {
            let name = case_["name"] as! String
            let settings = Self.settings(case_["kwargs"] as! [String: Any], prompt: case_["prompt"] as? String)
            let captions = try model.generate(pixelValues: pixels, settings: settings)
            let sequences = case_["sequences"] as! [[Int]]
            let texts = case_["texts"] as! [String]
            let flat = captions.flatMap { $0 }
            XCTAssertEqual(flat.count, sequences.count, name)
            var identical = 0
            for (c, (seq, text)) in zip(flat, zip(sequences, texts)) {
                // transformers pads finished rows (with pad, or with eos in beam search) to a common length.
                let fill = Array(seq.dropFirst(c.tokens.count))
                let sameTokens = Array(seq.prefix(c.tokens.count)) == c.tokens && fill.allSatisfy { $0 == pad || $0 == sep }
                    && (c.tokens.last == sep || fill.isEmpty)
                XCTAssertTrue(sameTokens, "\(name): \(c.tokens) vs \(seq)")
                XCTAssertEqual(c.text, text, name)
                if sameTokens { identical += 1 }
            }
            var note = "\(name): \(identical)/\(sequences.count) token-identical"
            if let scores = case_["sequences_scores"] as? [Any] {
                let d = maxAbsDiff(flat.map(\.score), BLIPFixtures.floats(scores))
                XCTAssertLessThan(d, 1e-4, name)
                note += String(format: ", scores max |Δ| %.2g", d)
            }
            summary.append(note)
        }
        print("BLIP generate vs transformers:\n  " + summary.joined(separator: "\n  "))
    }

    /// Batching and the images' order do not change captions (rows leave the batch as they finish).
    func testBatchInvariance() throws {
        let model = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"), batchSize: 8)
        let one = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"), batchSize: 1)
        let images = try BLIPFixtures.images()
        for settings in [CaptionSettings(maxNewTokens: 8),
                         CaptionSettings(strategy: .beam(numBeams: 3, lengthPenalty: 1, earlyStopping: .heuristic), maxNewTokens: 8, numCaptions: 2),
                         CaptionSettings(strategy: .nucleus(topP: 0.9, topK: 0, temperature: 1), maxNewTokens: 8, numCaptions: 3, seed: 7)] {
            let a = try model.caption(images, settings: settings)
            let b = try one.caption(images, settings: settings)
            let c = try model.caption(images.reversed(), settings: settings).reversed()
            XCTAssertEqual(a.map { $0.map(\.tokens) }, b.map { $0.map(\.tokens) })
            XCTAssertEqual(a.map { $0.map(\.tokens) }, c.map { $0.map(\.tokens) })
        }
    }
}
