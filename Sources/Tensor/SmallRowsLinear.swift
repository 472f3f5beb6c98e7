// nn.Linear for the few rows of a decoding step (a batch's beams or samples). Two kernels, chosen
// by row count (`decodingLinear`):
// - up to `streamingDecodeRows` rows, Ops.linear's streaming kernel (Swift, AVX2), which reads
//   each weight row once and, for one row, four weight rows per load of the input;
// - above that, OpenBLAS's own AVX-512 kernels in column blocks small enough for its
//   small-matrix path, which read the weights in place on the calling thread (one plain sgemm
//   over a whole weight matrix packs it first: more memory traffic than the product).
// The crossover was measured inside the captioner (full-size BLIP, weights streamed from memory
// at every step, `capfilt-bench blip`, Zen 4, with Parallel's spinning team), decoder + LM head
// per step: 1 row 27.7–28.0 ms streaming against 29.0–33.6 fewRowsLinear; 3 rows 29.3–29.5
// against 33.6–38.0; 8 rows 75.4–81.2 against 56.7–57.9. (When fewRowsLinear was introduced the
// Swift loops were baseline x86-64 SSE and lost at every row count.)

extension Ops {
    /// The work of one column block here, and the size above which attention's `callerGEMM` takes
    /// oneDNN: OpenBLAS 0.3.21's threading threshold (65536 × 4 in Debian's build), under which its
    /// small-matrix kernels read the weights in place.
    public static let blasSingleThreadWork = 65536 * 4

    /// Inputs up to this many rows go through `decodingLinear` in the decoder.
    public static let fewRowsLimit = 32

    /// Rows up to this take the streaming kernel in `decodingLinear`.
    public static let streamingDecodeRows = 4

    /// nn.Linear for a decoding step's rows (up to summation order), by the kernel measured fastest
    /// at that row count with the weights coming from memory.
    public static func decodingLinear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        x.rows <= streamingDecodeRows ? linear(x, weight: weight, bias: bias) : fewRowsLinear(x, weight: weight, bias: bias)
    }

    /// y = x · Wᵀ + b for x [rows, in], W [out, in]: nn.Linear up to summation order. The output
    /// features are cut into blocks of at most blasSingleThreadWork multiply-adds, one sgemm each,
    /// and the blocks are split over the threads; the bias is added to each block's products (the
    /// same single addition Ops.linear makes).
    public static func fewRowsLinear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2, "linear: weight must be 2-D, got \(weight.shape)")
        let outF = weight.shape[0], inF = weight.shape[1], m = x.rows
        precondition(x.lastDim == inF, "linear: input features \(x.lastDim) != weight in \(inF)")
        precondition(bias.map { $0.count == outF } ?? true, "linear: bias has \(bias?.count ?? 0) values, expected \(outF)")
        var shape = x.shape
        shape[shape.count - 1] = outF
        let chunk = max(4, (blasSingleThreadWork / max(m * inF, 1)) & ~3)
        let blocks = (outF + chunk - 1) / chunk
        return Tensor.uninitialized(shape) { y in
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
                                for r in 0..<m {
                                    let row = ys + r * outF
                                    for j in j0..<(j0 + n) { row[j] += bias[j] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Ops {
    /// nn.Linear in bf16 for a decoding step's few rows, as OneDNN.linear computes it (x rounded to
    /// bf16, products of bf16 values, sums and bias in fp32) up to summation order: the weights
    /// stream once from memory at half fp32's bytes, each widened in registers (a bf16 is the top
    /// half of an fp32), and every product of two bf16 values is exact in fp32. At a step's 3 rows
    /// oneDNN's matmul was no faster than fp32's streaming kernel (beam 3 returning 3, batch 1:
    /// 2.20 captions/s against 2.36 fp32; nucleus N=3 per image 2.75 against 2.37); this kernel
    /// gives 2.77 and 2.94 (one run each, `capfilt-bench blip --precision bf16`).
    public static func streamingLinear(_ x: Tensor, weight: BF16Matrix, bias: Tensor?) -> Tensor {
        let m = x.rows, n = weight.rows, k = weight.columns
        precondition(x.lastDim == k, "linear: input features \(x.lastDim) != weight in \(k)")
        precondition(bias.map { $0.count == n } ?? true, "linear: bias has \(bias?.count ?? 0) values, expected \(n)")
        var shape = x.shape
        shape[shape.count - 1] = n
        // x as the bf16 values the product sees, widened back once.
        var rounded = [UInt16](repeating: 0, count: x.count)
        BF16.round(x.data, into: &rounded)
        let xs = rounded.map(BF16.widen)
        return Tensor.uninitialized(shape) { y in
            guard m > 0 else { return }
            xs.withUnsafeBufferPointer { xp in
                weight.withUnsafePointer { wp in
                    nonisolated(unsafe) let (xs, ws, ys) = (xp.baseAddress!, wp, y.baseAddress!)
                    let bias = bias?.data
                    Parallel.forEachRange(n, minPerThread: 64) { range in
                        streamBF16Rows(xs, m: m, k: k, ws, range, ys, n: n, bias: bias)
                    }
                }
            }
        }
    }

    /// For each output feature and input row: eight lanes over k (the weight row widened eight at a
    /// time), summed, the scalar tail, then the bias. Four weight rows at a time, each block taken
    /// with every input row while it is in L1, so the weights stream from memory once.
    private static func streamBF16Rows(_ x: UnsafePointer<Float>, m: Int, k: Int, _ w: UnsafePointer<UInt16>, _ range: Range<Int>,
                                       _ y: UnsafeMutablePointer<Float>, n: Int, bias: [Float]?) {
        typealias V = SIMD8<Float>
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func widen(_ p: UnsafePointer<UInt16>) -> V {
            unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt16>.self)) &<< 16, to: V.self)
        }
        let vec = k & ~7
        @inline(__always) func finish(_ a: V, _ r: Int, _ j: Int) {
            var s = a.sum()
            let wr = w + j * k, xr = x + r * k
            var t = vec
            while t < k { s += BF16.widen(wr[t]) * xr[t]; t += 1 }
            y[r * n + j] = s + (bias?[j] ?? 0)
        }
        var j = range.lowerBound
        while j + 4 <= range.upperBound {
            let w0 = w + j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k
            for r in 0..<m {
                let xr = x + r * k
                var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                var i = 0
                while i < vec {
                    let xv = load(xr + i)
                    a0 += widen(w0 + i) * xv
                    a1 += widen(w1 + i) * xv
                    a2 += widen(w2 + i) * xv
                    a3 += widen(w3 + i) * xv
                    i += 8
                }
                finish(a0, r, j); finish(a1, r, j + 1); finish(a2, r, j + 2); finish(a3, r, j + 3)
            }
            j += 4
        }
        while j < range.upperBound {
            let wr = w + j * k
            for r in 0..<m {
                let xr = x + r * k
                var a = V()
                var i = 0
                while i < vec { a += widen(wr + i) * load(xr + i); i += 8 }
                finish(a, r, j)
            }
            j += 1
        }
    }
}
