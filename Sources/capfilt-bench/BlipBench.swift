// `capfilt-bench blip`: BLIP captions/s (greedy, beam 3, nucleus; batch 1 and 8; several captions
// per image) and ITM pairs/s (the filter stage's job among them), printed next to the PyTorch +
// transformers figures that tools/bench_blip.py measured in the same `make bench`.
import ArgumentParser
import Foundation
import Models
import Tensor

struct BlipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blip",
        abstract: "Benchmark BLIP captions/s and ITM pairs/s, with ratios to PyTorch.",
        discussion: """
        Times the models only (pixel_values prepared beforehand), median of --repeats runs after a \
        warm-up, like tools/bench_blip.py does for PyTorch. Every caption is exactly --tokens new \
        tokens long (min_new_tokens = max_new_tokens), so both sides do the same work on random weights.

        Example:
          capfilt-bench blip --model out/blip-base --threads 2 --pytorch out/bench-blip-pytorch.json
        """)

    @Option(help: "Folder written by tools/fullsize_blip.py (caption/ and itm/ checkpoints).")
    var model: String = "out/blip-base"

    @Option(help: "Timed runs per measurement (median reported).")
    var repeats: Int = 3

    @Option(help: "New tokens per caption.")
    var tokens: Int = 20

    @Option(help: "Only the measurements whose key contains this (e.g. b1).")
    var only: String?

    @Flag(help: "Also time a vision layer's pieces (fc1, GELU, attention core).")
    var ops = false

    @Flag(help: "Split generation at batch 1 and 8 (greedy, nucleus, nucleus N=3, beam 3) into vision, prefill and per-step time.")
    var steps = false

    @Flag(help: "Time the decoder's projections at decoding-step row counts: Ops.linear against plain sgemm.")
    var linearOps = false

    @OptionGroup var options: ModelBenchOptions

    func run() throws {
        options.start("BLIP")
        let root = URL(fileURLWithPath: model)
        let cap = try BLIPCaptioner.load(directory: root.appendingPathComponent("caption"), batchSize: 8, precision: options.precision)
        let s = cap.config.visionConfig.imageSize
        var g = SplitMix64(seed: 1)
        let px8 = benchTensor([8, 3, s, s], &g)
        let px1 = Tensor(shape: [1, 3, s, s], data: Array(px8.data[0..<(3 * s * s)]))
        func settings(_ strategy: CaptionSettings.Strategy, captions: Int = 1) -> CaptionSettings {
            CaptionSettings(strategy: strategy, minNewTokens: tokens, maxNewTokens: tokens, numCaptions: captions, seed: 3)
        }
        let greedy = settings(.greedy)
        let beam3 = settings(.beam(numBeams: 3, lengthPenalty: 1, earlyStopping: .heuristic))
        let beam3x3 = settings(.beam(numBeams: 3, lengthPenalty: 1, earlyStopping: .heuristic), captions: 3)
        let nucleus = settings(.nucleus(topP: 0.9, topK: 50, temperature: 1))
        let nucleus3 = settings(.nucleus(topP: 0.9, topK: 50, temperature: 1), captions: 3)

        if ops {
            // One vision layer's pieces at 384 px (577 tokens, hidden 768, 12 heads, MLP 3072).
            func rand(_ shape: [Int]) -> Tensor { benchTensor(shape, &g) }
            let x = rand([577, 768]), wide = rand([577, 3072]), qkv = rand([577, 2304])
            let w1 = Linear(weight: rand([3072, 768]), bias: rand([3072]))
            let gemm = try medianRate(items: 1, repeats: 5) { _ = w1(x) }
            let gelu = try medianRate(items: 1, repeats: 5) { var t = wide; Activation.gelu.apply(&t) }
            let att = try medianRate(items: 1, repeats: 5) { _ = Ops.attention(qkv: qkv, batch: 1, seq: 577, heads: 12, mask: .none) }
            print(String(format: "vision layer pieces: fc1 linear %.1f ms (%.0f GFLOP/s); GELU over 577×3072 %.1f ms; attention core %.1f ms",
                         1000 / gemm, gemm * 2 * 577 * 768 * 3072 / 1e9, 1000 / gelu, 1000 / att))
        }
        if steps {
            for (batch, px) in [(1, px1), (8, px8)] {
                let v = try medianRate(items: 1, repeats: repeats) { _ = try cap.visionHiddenStates(pixelValues: px) }
                for (name, strategy, captions) in [("greedy", CaptionSettings.Strategy.greedy, 1),
                                                   ("nucleus", nucleus.strategy, 1), ("nucleus N=3", nucleus.strategy, 3),
                                                   ("beam 3", beam3.strategy, 1)] {
                    func run(_ n: Int) throws {
                        _ = try cap.generate(pixelValues: px, settings: CaptionSettings(strategy: strategy, minNewTokens: n, maxNewTokens: n,
                                                                                        numCaptions: captions, seed: 3))
                    }
                    let one = try medianRate(items: 1, repeats: repeats) { try run(1) }
                    let full = try medianRate(items: 1, repeats: repeats) { try run(tokens) }
                    print(String(format: "batch %d, %@: vision %.0f ms, cross K/V + prefill + first token %.0f ms, then %.1f ms per decoding step (total %.0f ms)",
                                 batch, name as NSString, 1000 / v, 1000 / one - 1000 / v, (1000 / full - 1000 / one) / Double(tokens - 1), 1000 / full))
                }
            }
        }

        if linearOps {
            func rand(_ shape: [Int]) -> Tensor { benchTensor(shape, &g) }
            for (name, outF, inF) in [("LM head", 30524, 768), ("self QKV", 2304, 768), ("768→768", 768, 768),
                                      ("fc1", 3072, 768), ("fc2", 768, 3072)] {
                let w = rand([outF, inF]), b = rand([outF])
                var line = String(format: "%-9@", name as NSString)
                for m in [1, 3, 8, 12, 24, 48] {
                    let x = rand([m, inF])
                    let lin = try medianRate(items: 1, repeats: 7) { _ = Ops.decodingLinear(x, weight: w, bias: b) }
                    let gemm = sgemmRate(m: m, n: outF, k: inF, repeats: 7)
                    let chunked = try medianRate(items: 1, repeats: 7) { _ = openBLASColumnBlocks(x, weight: w, bias: b) }
                    line += String(format: "  rows %2d: decodingLinear %6.2f, sgemm %6.2f, OpenBLAS blocks %6.2f ms", m, 1000 / lin, 1000 / gemm, 1000 / chunked)
                }
                print(line)
            }
        }

        var rows: [(key: String, name: String, rate: Double)] = []
        @discardableResult
        func measure(_ key: String, _ name: String, items: Int, _ body: () throws -> Void) throws -> Double? {
            if let only, !key.contains(only) { return nil }
            let r = try medianRate(items: items, repeats: repeats, body)
            rows.append((key, name, r))
            print(String(format: "  %-44@ %8.3f /s", name as NSString, r))
            return r
        }
        try measure("vision_b1", "vision passes/s (384 px), batch 1", items: 1) { _ = try cap.visionHiddenStates(pixelValues: px1) }
        for (key, name, st, per) in [("greedy", "greedy", greedy, 1), ("beam3", "beam 3", beam3, 1),
                                     ("nucleus", "nucleus (top-p 0.9, top-k 50)", nucleus, 1)] {
            try measure("\(key)_b1", "captions/s, \(name), batch 1", items: per) { _ = try cap.generate(pixelValues: px1, settings: st) }
            try measure("\(key)_b8", "captions/s, \(name), batch 8", items: 8 * per) { _ = try cap.generate(pixelValues: px8, settings: st) }
        }
        try measure("nucleus3_b1", "captions/s, nucleus N=3 per image, batch 1", items: 3) { _ = try cap.generate(pixelValues: px1, settings: nucleus3) }
        try measure("beam3x3_b1", "captions/s, beam 3 returning 3, batch 1", items: 3) { _ = try cap.generate(pixelValues: px1, settings: beam3x3) }

        let itm = try BLIPRetrieval.load(directory: root.appendingPathComponent("itm"), precision: options.precision)
        let texts = ["a photo of a cat sitting on a wooden table", "two dogs playing in the snow",
                     "a red car parked beside a river", "an aerial view of a city at night"]
        let px2 = Tensor(shape: [2, 3, s, s], data: Array(px8.data[0..<(2 * 3 * s * s)]))
        try measure("itm_pairs", "ITM pairs/s (2 images × 4 texts)", items: 8) { _ = try itm.itm(pixelValues: px2, texts: [texts, texts]) }

        // The filter stage's work in issue 14's job: 16 frames with 7 texts each (a web alt-text,
        // three 20-token nucleus captions after the "a picture of" prompt, three subtitle cues), of
        // different lengths so the batch is padded. First the text side of one frame (its vision pass
        // done beforehand), one call per text (the frame's cross-attention keys/values projected for
        // every text) against one call for all seven; then the whole stage, ITM and ITC as
        // FilterStage asks for them (preprocessing and vision passes included, batch 8).
        let frameTexts = [
            "stock photo 4k wallpaper free download",
            "a picture of a man riding a bicycle down a busy street in the rain while people watch from a small cafe",
            "a picture of a small wooden boat on a calm lake with tall mountains and dark trees behind it at dawn",
            "a picture of a woman holding a red umbrella walking across a wet road at night under the street lights",
            "two dogs", "i told you we should have left earlier", "look out!"]
        let tokenCounts = frameTexts.map { itm.tokenizer.encode($0).count }
        let frame = try itm.encodeImages(pixelValues: px1)
        print("  (the frame's 7 texts: \(tokenCounts.map(String.init).joined(separator: ", ")) tokens)")
        let perText = try measure("itm_frame_text", "ITM, 1 frame × 7 texts, a call per text", items: 7) {
            for t in frameTexts { _ = try itm.itm(frame, texts: [[t]]) }
        }
        let perFrame = try measure("itm_frame_batch", "ITM, 1 frame × 7 texts, one batch", items: 7) {
            _ = try itm.itm(frame, texts: [frameTexts])
        }
        if let perText, let perFrame { print(String(format: "  one batch / a call per text: %.2f×", perFrame / perText)) }
        let frames = (0..<16).map { i in
            RGBImage(width: s, height: s, pixels: (0..<(s * s * 3)).map { _ in UInt8(truncatingIfNeeded: g.next() >> 56) })
        }
        try measure("filter_job", "filter ITM+ITC pairs/s, 16 frames × 7 texts", items: 16 * 7) {
            _ = try itm.itmAndITC(frames, texts: Array(repeating: frameTexts, count: frames.count))
        }

        let (reference, torchName) = options.reference()
        let base = options.baselineFigures()
        // Padded by hand: Foundation on Linux ignores the width of %@.
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            s.count >= n ? s : (left ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
        }
        print(pad("", 46) + pad("Swift \(options.precision.rawValue)", 12, left: true) + pad(torchName, 24, left: true)
              + pad("ratio", 8, left: true) + (base.map { pad($0.name, 10, left: true) } ?? ""))
        for r in rows {
            let theirs = (reference[r.key] as? NSNumber)?.doubleValue
            print(pad(r.name, 46) + pad(String(format: "%.3f", r.rate), 12, left: true)
                  + pad(theirs.map { String(format: "%.3f", $0) } ?? "-", 24, left: true)
                  + pad(theirs.map { String(format: "%.2f×", r.rate / $0) } ?? "-", 8, left: true)
                  + (base.map { b in pad(b.figures[r.key].map { String(format: "%.2f×", r.rate / $0) } ?? "-", 10, left: true) } ?? ""))
        }
        try options.save(Dictionary(rows.map { ($0.key, $0.rate) }, uniquingKeysWith: { a, _ in a }))
    }
}
