import Foundation
@testable import Models
import Tensor
import XCTest

/// Nucleus sampling: the warped distribution equals transformers' on fixed logits, draws follow it,
/// and captions are reproducible for a seed.
final class BLIPSamplingTests: XCTestCase {
    func testWarpedDistributionMatchesTransformers() throws {
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: BLIPFixtures.url("sampling.json"))) as! [[String: Any]]
        var worst: Float = 0
        for c in cases {
            var logits = BLIPFixtures.floats(c["logits"])
            let previous = c["previous"] as! [Int]
            let penalty = (c["repetition_penalty"] as? NSNumber)?.floatValue ?? 1
            LogitsProcessing.repetitionPenalty(&logits, previous: previous, penalty: penalty)
            let probs = LogitsProcessing.samplingDistribution(
                logits, temperature: (c["temperature"] as! NSNumber).floatValue,
                topK: (c["top_k"] as! NSNumber).intValue, topP: (c["top_p"] as! NSNumber).floatValue)
            let expected = BLIPFixtures.floats(c["probs"])
            let d = maxAbsDiff(probs, expected)
            worst = max(worst, d)
            XCTAssertLessThan(d, 1e-6, "\(c)")
            // Same support: every token transformers removed is removed here, and vice versa.
            XCTAssertEqual(probs.map { $0 > 0 }, expected.map { $0 > 0 })
        }
        print("sampling warpers vs transformers: \(cases.count) cases, max |Δp| \(worst)")
    }

    func testDrawsFollowTheDistribution() {
        let probs: [Float] = [0.5, 0.25, 0.125, 0.0625, 0.0625, 0]
        var rng = SplitMix64(seed: 42)
        let n = 200_000
        var counts = [Int](repeating: 0, count: probs.count)
        for _ in 0..<n { counts[rng.sample(probs)] += 1 }
        var chi2 = 0.0
        for (p, c) in zip(probs, counts) where p > 0 {
            let e = Double(p) * Double(n)
            chi2 += (Double(c) - e) * (Double(c) - e) / e
        }
        print("sampling: \(n) draws, counts \(counts), chi² \(String(format: "%.2f", chi2)) (4 dof; 99.9% quantile 18.5)")
        XCTAssertEqual(counts.last, 0)
        XCTAssertLessThan(chi2, 18.5)
    }

    func testNucleusCaptionsReproducibleForASeed() throws {
        let model = try BLIPCaptioner.load(directory: BLIPFixtures.url("blip-cap-tiny"))
        let images = Array(try BLIPFixtures.images().prefix(3))
        func run(_ seed: UInt64) throws -> [[[Int]]] {
            try model.caption(images, settings: CaptionSettings(strategy: .nucleus(topP: 0.95, topK: 50, temperature: 1.2),
                                                                 maxNewTokens: 10, numCaptions: 4, seed: seed)).map { $0.map(\.tokens) }
        }
        let a = try run(1), b = try run(1), c = try run(2)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.map(\.count), [4, 4, 4])
        // Samples of one image differ from each other (temperature 1.2 over a peaked random model).
        XCTAssertGreaterThan(Set(a.flatMap { $0 }).count, 3)
    }

    func testSettingsRoundTripAsJSON() throws {
        let s = CaptionSettings(strategy: .beam(numBeams: 3, lengthPenalty: 1, earlyStopping: .never), prompt: "a picture of", numCaptions: 2)
        let data = try JSONEncoder().encode(s)
        XCTAssertEqual(try JSONDecoder().decode(CaptionSettings.self, from: data), s)
        XCTAssertThrowsError(try CaptionSettings(strategy: .greedy, numCaptions: 2).validate())
        XCTAssertThrowsError(try CaptionSettings(strategy: .beam(numBeams: 2, lengthPenalty: 1, earlyStopping: .heuristic), numCaptions: 3).validate())
    }
}
