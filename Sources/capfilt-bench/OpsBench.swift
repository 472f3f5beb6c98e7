// `capfilt-bench ops`: the runtime's operations at the models' own shapes, each against the raw BLAS
// call at that shape (what the layer could reach) and against its bf16 version. This is the table
// that says whether time goes to the matrix multiply itself or to what surrounds it, on this host.
import ArgumentParser
import Foundation
import Tensor

struct OpsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Per-operation GFLOP/s at BLIP-base and CLIP ViT-B/32 shapes: layer vs raw sgemm vs bf16.",
        discussion: """
        Each linear layer is timed as the models call it (Linear: bias copy + oneDNN's sgemm per thread, \
        or the streaming kernel at ≤ 8 rows) next to one raw OpenBLAS cblas_sgemm of the same shape \
        with beta 0 on OpenBLAS's own threads, and next to the same layer in bf16 (oneDNN). Medians of \
        --repeats runs after a warm-up.
        """)

    @Option(help: "Timed runs per measurement (median reported).")
    var repeats: Int = 7

    @Option(help: "Threads (OpenBLAS, and the runtime's own splits).")
    var threads: Int = 2

    func run() throws {
        Heap.keepFreedBlocks()
        BLAS.setThreads(threads)
        print("== ops bench: OpenBLAS \(BLAS.coreName), oneDNN \(OneDNN.isa), \(BLAS.threads) threads, "
              + "OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
        print("   host: \(hostCPU())")
        var g = SplitMix64(seed: 5)
        // (what, rows m, in k, out n): where each shape comes from.
        let shapes: [(String, Int, Int, Int)] = [
            ("BLIP vision qkv (577 tokens)", 577, 768, 2304),
            ("BLIP vision out proj", 577, 768, 768),
            ("BLIP vision fc1", 577, 768, 3072),
            ("BLIP vision fc2", 577, 3072, 768),
            ("BLIP cross K/V of a frame", 577, 768, 1536),
            ("BLIP text, 7 packed texts", 151, 768, 768),
            ("BLIP text fc1, 7 texts", 151, 768, 3072),
            ("CLIP vision fc1, batch 32", 1600, 768, 3072),
            ("CLIP vision fc2, batch 32", 1600, 3072, 768),
            ("CLIP text fc1, 32 texts", 32 * 12, 512, 2048),
            ("decoder step fc1, 1 row", 1, 768, 3072),
            ("decoder step fc1, 8 rows", 8, 768, 3072),
            ("decoder step fc1, 24 rows", 24, 768, 3072),
            ("LM head, 1 row", 1, 768, 30524),
            ("LM head, 8 rows", 8, 768, 30524),
            ("LM head, 24 rows", 24, 768, 30524),
        ]
        let header = "operation                        m×k×n              layer ms  layer GF/s  sgemm GF/s  layer/sgemm   bf16 ms  bf16 GF/s  bf16/fp32"
        print(header)
        // Raw sgemm first, threaded by OpenBLAS's own pool, then a pause: that pool's idle workers
        // spin in sched_yield for a while after each product, and the layers timed right after one
        // used to share the two cores with them (the 151-row text fc1 took 9.0 or 5.1 ms depending
        // on the process).
        let rawRates = shapes.map { _, m, k, n in sgemmRate(m: m, n: n, k: k, repeats: repeats) }
        Thread.sleep(forTimeInterval: 0.5)
        var layerTotal = 0.0, bf16Total = 0.0
        for ((name, m, k, n), raw) in zip(shapes, rawRates) {
            let w = benchTensor([n, k], &g), b = benchTensor([n], &g), x = benchTensor([m, k], &g)
            let fp32 = Linear(weight: w, bias: b)
            let bf16 = try Linear(weight: w, bias: b, precision: .bf16)
            let flop = 2 * Double(m) * Double(k) * Double(n)
            let layer = try medianRate(items: 1, repeats: repeats) { _ = fp32(x) }
            let low = try medianRate(items: 1, repeats: repeats) { _ = bf16(x) }
            layerTotal += 1 / layer; bf16Total += 1 / low
            func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
            print(pad(name, 33) + pad("\(m)×\(k)×\(n)", 17) + String(format: "%8.2f %11.0f %11.0f %12.2f %9.2f %10.0f %10.2f",
                         1000 / layer, flop * layer / 1e9, flop * raw / 1e9, layer / raw, 1000 / low, flop * low / 1e9, low / layer))
        }
        print(String(format: "all shapes above once: fp32 %.1f ms, bf16 %.1f ms (%.2f×)", 1000 * layerTotal, 1000 * bf16Total, layerTotal / bf16Total))

        // A decoding step's rows, as the decoder calls its layers (Linear.decodingStep: CKernels'
        // rows kernels), the weights coming from memory: fp32, fp32 through OpenBLAS's small-matrix
        // sgemm in column blocks (the kernel above 4 rows before, openBLASColumnBlocks), bf16, and bf16
        // through oneDNN. BLIP's decoder projections in a step's order (12 layers × self qkv, self
        // output, cross query, cross output, fc1, fc2; 400 MB in fp32, 200 in bf16), then the LM
        // head (94 / 47 MB). 3 rows: nucleus N=3 of one frame; 24: of a batch of 8.
        let decoderShapes = (0..<12).flatMap { _ in [(2304, 768), (768, 768), (768, 768), (768, 768), (3072, 768), (768, 3072)] }
        for (name, shapes) in [("decoder projections", decoderShapes), ("LM head", [(30524, 768)])] {
            let weights = shapes.map { n, k in (benchTensor([n, k], &g), benchTensor([n], &g)) }
            let fp32 = weights.map { Linear(weight: $0.0, bias: $0.1) }
            let bf16 = try weights.map { try Linear(weight: $0.0, bias: $0.1, precision: .bf16) }
            print("decoding step, \(name) (fp32 / fp32 OpenBLAS blocks / bf16 / bf16 through oneDNN, ms):")
            for m in [1, 2, 3, 4, 8, 12, 24] {
                let inputs = shapes.map { benchTensor([m, $0.1], &g) }
                let full = try medianRate(items: 1, repeats: repeats) { for (l, x) in zip(fp32, inputs) { _ = l.decodingStep(x) } }
                let blocks = try medianRate(items: 1, repeats: repeats) {
                    for (w, x) in zip(weights, inputs) { _ = openBLASColumnBlocks(x, weight: w.0, bias: w.1) }
                }
                let half = try medianRate(items: 1, repeats: repeats) { for (l, x) in zip(bf16, inputs) { _ = l.decodingStep(x) } }
                let dnn = try medianRate(items: 1, repeats: repeats) { for (l, x) in zip(bf16, inputs) { _ = l(x) } }
                print(String(format: "  %2d rows  %6.1f / %6.1f / %6.1f / %6.1f", m, 1000 / full, 1000 / blocks, 1000 / half, 1000 / dnn))
            }
        }

        // A layer with its weight as stored (x · Wᵀ through OpenBLAS) against the [in, out] copy CLIP
        // keeps (x · W through oneDNN, Linear.WeightLayout.inOut), at the encoders' row counts: a
        // CLIP image (50 tokens), 7 packed texts (151), a BLIP frame (577), 32 CLIP images.
        var layouts = "layer as stored / in-out ms:"
        for (m, k, n) in [(50, 768, 2304), (50, 768, 3072), (50, 3072, 768), (151, 768, 3072), (577, 768, 3072), (1600, 3072, 768)] {
            let w = benchTensor([n, k], &g), b = benchTensor([n], &g), x = benchTensor([m, k], &g)
            let stored = Linear(weight: w, bias: b)
            let inOut = Linear(transposing: w, bias: b)
            let a = try medianRate(items: 1, repeats: repeats) { _ = stored(x) }
            let t = try medianRate(items: 1, repeats: repeats) { _ = inOut(x) }
            layouts += String(format: "  %d×%d×%d %.2f / %.2f", m, k, n, 1000 / a, 1000 / t)
        }
        print(layouts)

        // One thread's column half of a layer (how Ops.gemm splits m ≤ n over two threads):
        // OpenBLAS against oneDNN's sgemm on the calling thread, at batch-1 CLIP (50 tokens),
        // 7 packed texts (151) and a BLIP frame (577).
        var small = "one thread, m×k×(n/2), OpenBLAS / oneDNN sgemm GF/s:"
        for (m, k, n) in [(50, 768, 2304), (50, 768, 3072), (50, 3072, 768), (151, 768, 3072), (577, 768, 3072)] {
            let h = n / 2
            let a = benchTensor([m, k], &g), b = benchTensor([h, k], &g)
            var c = [Float](repeating: 0, count: m * h)
            let flop = 2 * Double(m) * Double(k) * Double(h)
            func rate(_ product: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) throws -> Double {
                try medianRate(items: 1, repeats: repeats) {
                    a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                        product(ap.baseAddress!, bp.baseAddress!, cp.baseAddress!)
                    } } }
                } * flop / 1e9
            }
            let blas = try rate { BLAS.gemm(transA: false, transB: true, m: m, n: h, k: k, a: $0, lda: k, b: $1, ldb: k, c: $2, ldc: h) }
            let dnn = try rate { OneDNN.sgemmOnThisThread(transA: false, transB: true, m: m, n: h, k: k, a: $0, lda: k, b: $1, ldb: k, c: $2, ldc: h) }
            small += String(format: "  %d×%d×%d %.0f / %.0f", m, k, h, blas, dnn)
        }
        print(small)

        // What is not a matrix product, at the BLIP vision pass's shapes (one of its 12 layers).
        let h = benchTensor([577, 768], &g), wide = benchTensor([577, 3072], &g), qkv = benchTensor([577, 2304], &g)
        let gamma = benchTensor([768], &g), beta = benchTensor([768], &g)
        let gelu = try medianRate(items: 1, repeats: repeats) { var t = wide; Activation.gelu.apply(&t) }
        let ln = try medianRate(items: 1, repeats: repeats) { _ = Ops.layerNorm(h, weight: gamma, bias: beta, eps: 1e-5) }
        let att = try medianRate(items: 1, repeats: repeats) { _ = Ops.attention(qkv: qkv, batch: 1, seq: 577, heads: 12, mask: .none) }
        var r = h
        let add = try medianRate(items: 1, repeats: repeats) { Ops.addInPlace(&r, h) }
        let attFlop = 2 * 2 * 577.0 * 577 * 64 * 12
        print(String(format: "BLIP vision layer, the rest: attention core %.2f ms (%.0f GF/s in its two products), GELU over 577×3072 %.2f ms, "
                     + "2 layer norms %.2f ms, 2 residual adds %.2f ms", 1000 / att, attFlop * att / 1e9, 1000 / gelu, 2000 / ln, 2000 / add))
    }
}
