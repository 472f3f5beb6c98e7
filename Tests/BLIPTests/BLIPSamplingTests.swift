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

    /// The decoding loop's nucleus draw (heap top-k, top-p over the survivors only) gives exactly
    /// the draw of the full warped distribution, and leaves the generator in the same state.
    func testFastNucleusDrawEqualsFullDistributionDraw() {
        var g = SplitMix64(seed: 11)
        var draws = 0
        for trial in 0..<24 {
            let n = [50, 1000, 30524][trial % 3]
            var logits = (0..<n).map { _ in Float(g.nextDouble() * 12 - 6) }
            if trial % 4 == 1 { for i in stride(from: 0, to: n, by: 7) { logits[i] = logits[0] } }   // ties
            if trial % 5 == 2 { logits[n / 2] = -.infinity }                                           // min_new_tokens
            if trial % 6 == 3 { for i in 0..<n { logits[i] = (logits[i] * 2).rounded() / 2 } }        // many ties
            let settings: [(Float, Int, Float)] = [(0.9, 50, 1), (0.95, 50, 1.2), (0.5, 10, 0.7), (1, 50, 1), (0.9, 0, 1), (0.9, n, 1)]
            for (p, k, t) in settings {
                for seed in 0..<2 {
                    var a = SplitMix64(seed: UInt64(trial * 100 + seed)), b = a
                    let full = a.sample(LogitsProcessing.samplingDistribution(logits, temperature: t, topK: k, topP: p))
                    let fast = logits.withUnsafeBufferPointer { LogitsProcessing.sampleNucleus($0, temperature: t, topK: k, topP: p, rng: &b) }
                    XCTAssertEqual(fast, full, "n \(n) p \(p) k \(k) t \(t) seed \(seed)")
                    XCTAssertEqual(a.state, b.state)
                    draws += 1
                }
            }
            let token = trial % n
            let expected = logits.withUnsafeBufferPointer { LogitsProcessing.logSoftmax($0)[token] }
            XCTAssertEqual(logits.withUnsafeBufferPointer { LogitsProcessing.logSoftmax($0, at: token) }, expected)
        }
        print("fast nucleus draw: \(draws) draws equal to the full distribution's")
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
