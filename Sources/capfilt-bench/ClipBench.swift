// `capfilt-bench clip`: CLIP image/text embeddings per second and raw sgemm GFLOP/s, printed next
// to the PyTorch + transformers figures that tools/bench_clip.py measured in the same `make bench`.
import ArgumentParser
import Foundation
import Models
import Tensor

struct ClipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip",
        abstract: "Benchmark CLIP embeddings/s and sgemm GFLOP/s, with ratios to PyTorch.",
        discussion: """
        Times the model only (inputs preprocessed beforehand), median of --repeats runs after a warm-up, \
        like tools/bench_clip.py does for PyTorch.

        Example:
          capfilt-bench clip --model out/clip-b32 --threads 2 --pytorch out/bench-pytorch.json
        """)

    @Option(help: "CLIP checkpoint folder (tools/fullsize_clip.py writes a ViT-B/32-sized one).")
    var model: String = "out/clip-b32"

    @Option(help: "Timed runs per measurement (median reported).")
    var repeats: Int = 5

    @Option(help: "Only the measurements whose key contains this (image_b1, image_b32, text_b32).")
    var only: String?

    @Flag(help: "Also time the non-gemm ops of a batch-32 forward.")
    var ops = false

    @OptionGroup var options: ModelBenchOptions

    func run() throws {
        options.start("CLIP")

        let gflops = sgemmRate(m: 1600, n: 3072, k: 768, repeats: 7) * 2 * 1600 * 3072 * 768 / 1e9
        print(String(format: "sgemm 1600×3072×768 (ViT-B/32 MLP at batch 32): %.1f GFLOP/s", gflops))

        if ops { try opBreakdown() }
        let clip = try CLIPModel.load(directory: URL(fileURLWithPath: model), batchSize: 32, precision: options.precision)
        let s = clip.config.visionConfig.imageSize
        var g = SplitMix64(seed: 1)
        let px32 = benchTensor([32, 3, s, s], &g)
        let px1 = Tensor(shape: [1, 3, s, s], data: Array(px32.data[0..<(3 * s * s)]))
        let captions = [
            "a photo of a cat sitting on a wooden table", "two dogs playing in the snow", "a red car parked beside a river",
            "an aerial view of a city at night", "a bowl of fruit on a kitchen counter", "a man riding a bicycle down a hill",
            "a close-up of a flower with a bee", "children playing football in a park",
        ]
        let ids = (0..<32).map { clip.tokenizer.encode(captions[$0 % captions.count]) }

        func measure(_ key: String, items: Int, repeats: Int, _ body: () throws -> Void) throws -> Double? {
            if let only, !key.contains(only) { return nil }
            return try medianRate(items: items, repeats: repeats, body)
        }
        let b1 = try measure("image_b1", items: 1, repeats: max(repeats, 10)) { _ = try clip.imageEmbeddings(pixelValues: px1) }
        let b32 = try measure("image_b32", items: 32, repeats: repeats) { _ = try clip.imageEmbeddings(pixelValues: px32) }
        let t32 = try measure("text_b32", items: 32, repeats: repeats) { _ = try clip.textEmbeddings(ids: ids) }

        // Preprocessing is outside the timings above (PyTorch's are model-only too); report it apart.
        let frame = RGBImage(width: 640, height: 480, pixels: (0..<(640 * 480 * 3)).map { _ in UInt8(truncatingIfNeeded: g.next()) })
        let pre = try medianRate(items: 1, repeats: 10) { _ = try clip.processor.preprocess(frame) }

        let (reference, torchName) = options.reference()
        func ref(_ key: String) -> Double? { (reference[key] as? NSNumber)?.doubleValue }
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            s.count >= n ? s : (left ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
        }
        let base = options.baselineFigures()
        print(pad("", 30) + pad("Swift \(options.precision.rawValue)", 12, left: true) + pad(torchName, 24, left: true) + pad("ratio", 8, left: true)
              + (base.map { pad($0.name, 10, left: true) } ?? ""))
        let rows = [("image embeddings/s, batch 1", b1, "image_b1"),
                    ("image embeddings/s, batch 32", b32, "image_b32"),
                    ("text embeddings/s, batch 32", t32, "text_b32")]
        for case let (name, mine?, key) in rows {
            let theirs = ref(key)
            print(pad(name, 30) + pad(String(format: "%.1f", mine), 12, left: true)
                  + pad(theirs.map { String(format: "%.1f", $0) } ?? "-", 24, left: true)
                  + pad(theirs.map { String(format: "%.2f×", mine / $0) } ?? "-", 8, left: true)
                  + (base.map { b in pad(b.figures[key].map { String(format: "%.2f×", mine / $0) } ?? "-", 10, left: true) } ?? ""))
        }
        try options.save(Dictionary(uniqueKeysWithValues: rows.compactMap { r in r.1.map { (r.2, $0) } }))
        print(String(format: "preprocess 640×480 → %d² (Pillow-exact bicubic), 1 thread: %.1f images/s", s, pre))
    }

    /// Where a batch-32 ViT-B/32 forward spends its time outside the projections' gemms.
    func opBreakdown() throws {
        var g = SplitMix64(seed: 2)
        func rand(_ shape: [Int]) -> Tensor { benchTensor(shape, &g) }
        let layers = 12.0
        let mlp = rand([1600, 3072]), h = rand([1600, 768]), gamma = rand([768]), beta = rand([768]), qkv = rand([1600, 2304])
        let act = try medianRate(items: 1, repeats: 5) { var t = mlp; Activation.quickGelu.apply(&t) }
        let ln = try medianRate(items: 1, repeats: 5) { _ = Ops.layerNorm(h, weight: gamma, bias: beta, eps: 1e-5) }
        let att = try medianRate(items: 1, repeats: 5) { _ = Ops.attention(qkv: qkv, batch: 32, seq: 50, heads: 12, mask: .none) }
        var r = h
        let add = try medianRate(items: 1, repeats: 5) { Ops.addInPlace(&r, h) }
        print(String(format: "per batch-32 forward (12 layers): quick_gelu %.0f ms, layer norms %.0f ms, attention core %.0f ms, residual adds %.0f ms",
                     1000 * layers / act, 1000 * 2 * layers / ln, 1000 * layers / att, 1000 * 2 * layers / add))

        // The text tower at the bench's batch: 32 captions padded to 12 tokens, width 512, 8 heads.
        let rows = 32 * 12
        let th = rand([rows, 512]), tg = rand([512]), tb = rand([512]), tqkv = rand([rows, 1536]), tmlp = rand([rows, 2048])
        let qkvL = Linear(weight: rand([1536, 512]), bias: rand([1536])), outL = Linear(weight: rand([512, 512]), bias: rand([512]))
        let fc1 = Linear(weight: rand([2048, 512]), bias: rand([2048])), fc2 = Linear(weight: rand([512, 2048]), bias: rand([512]))
        let mask = AttentionMask(causal: true, keyLengths: (0..<32).map { 8 + $0 % 5 })
        let pieces: [(String, () -> Void)] = [
            ("qkv", { _ = qkvL(th) }), ("attention core", { _ = Ops.attention(qkv: tqkv, batch: 32, seq: 12, heads: 8, mask: mask) }),
            ("out proj", { _ = outL(th) }), ("fc1", { _ = fc1(th) }), ("quick_gelu", { var t = tmlp; Activation.quickGelu.apply(&t) }),
            ("fc2", { _ = fc2(tmlp) }), ("2 layer norms", { _ = Ops.layerNorm(th, weight: tg, bias: tb, eps: 1e-5); _ = Ops.layerNorm(th, weight: tg, bias: tb, eps: 1e-5) }),
        ]
        var text = "per batch-32 text forward (32 × 12 tokens, 12 layers):"
        var total = 0.0
        for (name, body) in pieces {
            let ms = 1000 * layers / (try medianRate(items: 1, repeats: 7) { body() })
            total += ms
            text += String(format: " %@ %.1f ms,", name, ms)
        }
        print(text + String(format: " sum %.0f ms", total))
    }
}
