import ArgumentParser
import Foundation
import Tensor

/// `make bench`: capfilt against the reference stack, measured in the same run, as medians and ratios.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capfilt-bench",
        abstract: "Benchmarks against the reference stack (ffmpeg CLI for decoding), medians of repeated runs.",
        subcommands: [DecodeBench.self, ClipBench.self, BlipBench.self, OpsBench.self]
    )
}

/// Median of repeated timings (seconds); machines are shared and noisy.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func time(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// The options `clip` and `blip` share, and what they do with them: set the BLAS threads, print
/// the header line naming the kernels, and read the PyTorch figures to print ratios against.
struct ModelBenchOptions: ParsableArguments {
    @Option(help: "OpenBLAS threads.")
    var threads: Int = 2

    @Option(help: "JSON written by the PyTorch side (tools/bench_clip.py, tools/bench_blip.py), to print ratios against.")
    var pytorch: String?

    @Option(help: "Label for this run (e.g. the kernel family).")
    var label: String?

    @Option(help: "Precision of the models' linear layers: fp32 or bf16 (both through oneDNN; fp32 through OpenBLAS with CAPFILT_SGEMM=openblas).")
    var precision: Precision = .fp32

    @Option(help: "Write this run's figures (key → items/s) to this JSON file.")
    var save: String?

    @Option(help: "Figures an earlier run saved (--save): print this run's ratio to them (e.g. bf16 against fp32).")
    var baseline: String?

    func start(_ title: String) {
        Heap.keepFreedBlocks()  // as `capfilt` does at start
        BLAS.setThreads(threads)
        let label = self.label ?? "Swift, fp32 sgemm " + (Ops.oneDNNProducts ? "oneDNN (\(OneDNN.isa))" : "OpenBLAS \(BLAS.coreName)")
        print("== \(title) bench: \(label), \(BLAS.threads) threads, OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
        print("   host: \(hostCPU())")
        if precision == .bf16 { print("   precision: bf16 linear layers through oneDNN (\(OneDNN.isa))") }
    }

    /// Writes `figures` where --save says (nothing without it).
    func save(_ figures: [String: Double]) throws {
        guard let save else { return }
        var out = figures as [String: Any]
        out["precision"] = precision.rawValue
        try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]).write(to: URL(fileURLWithPath: save))
    }

    /// The --baseline run's figures by key, and its precision ("fp32" when it does not say).
    func baselineFigures() -> (figures: [String: Double], name: String)? {
        guard let baseline, let data = FileManager.default.contents(atPath: baseline),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        var figures: [String: Double] = [:]
        for (k, v) in obj { if let n = v as? NSNumber, k != "precision" { figures[k] = n.doubleValue } }
        return (figures, "vs \(obj["precision"] as? String ?? "fp32")")
    }

    /// The PyTorch side's figures by key, and the name to print over them.
    func reference() -> (figures: [String: Any], name: String) {
        var figures: [String: Any] = [:]
        if let pytorch, let data = FileManager.default.contents(atPath: pytorch),
           let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] { figures = obj }
        return (figures, (figures["torch"] as? String).map { "PyTorch \($0)" } ?? "PyTorch (not measured)")
    }
}

/// Items per second: median over `repeats` timed runs after one untimed warm-up. With
/// CAPFILT_BENCH_BEST=1 the best run instead (useful on a noisy shared machine when comparing
/// code changes; the reported figures are medians).
func medianRate(items: Int, repeats: Int, _ body: () throws -> Void) throws -> Double {
    try body()
    var times: [Double] = []
    for _ in 0..<repeats { times.append(try time(body)) }
    times.sort()
    let best = ProcessInfo.processInfo.environment["CAPFILT_BENCH_BEST"] == "1"
    return Double(items) / (best ? times[0] : times[times.count / 2])
}

extension SplitMix64 {
    /// Uniform in [-2, 2) with 24 random bits: benchmark inputs and weights.
    mutating func benchFloat() -> Float { Float(next() >> 40) / Float(1 << 24) * 4 - 2 }
}

/// A tensor of benchmark values from `g`.
func benchTensor(_ shape: [Int], _ g: inout SplitMix64) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in g.benchFloat() })
}

/// The CPU as /proc/cpuinfo names it: hosts differ (Zen 4 is `cpu family 25`, Zen 5 `26`), and their
/// ratios are not comparable.
func hostCPU() -> String {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    func field(_ name: String) -> String? {
        info.split(separator: "\n").first { $0.hasPrefix(name) }?.split(separator: ":", maxSplits: 1).last
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }
    let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
    let isa = ["avx2", "avx512f", "avx512_bf16", "amx_tile"].filter(flags.contains).joined(separator: " ")
    return "\(field("model name") ?? "?"), cpu family \(field("cpu family") ?? "?"), model \(field("model") ?? "?"), "
        + "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(isa)"
}

/// Calls/s of one raw row-major sgemm C = A·Bᵀ (beta 0), threaded by OpenBLAS itself (as a BLAS user
/// calls it): a layer's product without its bias, the rate
/// the layers are held against (`clip`, `ops`).
func sgemmRate(m: Int, n: Int, k: Int, repeats: Int) -> Double {
    let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: n * k)
    var c = [Float](repeating: 0, count: m * n)
    return (try? medianRate(items: 1, repeats: repeats) {
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            BLAS.gemmThreadedByOpenBLAS(threads: BLAS.threads, transA: false, transB: true, m: m, n: n, k: k, a: ap.baseAddress!, lda: k,
                                        b: bp.baseAddress!, ldb: k, c: cp.baseAddress!, ldc: n)
        } } }
    }) ?? 0
}

extension Precision: ExpressibleByArgument {}

/// The decoder's fp32 kernel above 4 rows before Ops.decodingLinear (whose every row is its own):
/// OpenBLAS's small-matrix sgemm in column blocks of at most `Ops.blasSingleThreadWork`
/// multiply-adds, split over the threads. Kept here to compare against.
func openBLASColumnBlocks(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let outF = weight.shape[0], inF = weight.shape[1], m = x.rows
    let chunk = max(4, (Ops.blasSingleThreadWork / max(m * inF, 1)) & ~3)
    let blocks = (outF + chunk - 1) / chunk
    return Tensor.uninitialized([m, outF]) { y in
        guard m > 0 else { return }
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                nonisolated(unsafe) let (xs, ws, ys) = (xp.baseAddress!, wp.baseAddress!, y.baseAddress!)
                let bias = bias?.data
                Parallel.forEachRange(blocks, minPerThread: 1) { range in
                    for blk in range {
                        let j0 = blk * chunk, n = min(chunk, outF - j0)
                        BLAS.gemm(transA: false, transB: true, m: m, n: n, k: inF, a: xs, lda: inF,
                                  b: ws + j0 * inF, ldb: inF, c: ys + j0, ldc: outF)
                        if let bias {
                            for r in 0..<m { for j in j0..<(j0 + n) { ys[r * outF + j] += bias[j] } }
                        }
                    }
                }
            }
        }
    }
}
