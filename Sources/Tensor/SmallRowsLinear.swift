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
import CKernels

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
        decodingLinear(x, weight: WeightMatrix(weight), bias: bias)
    }

    public static func decodingLinear(_ x: Tensor, weight: WeightMatrix, bias: Tensor?) -> Tensor {
        x.rows <= streamingDecodeRows ? linear(x, weight: weight, bias: bias) : fewRowsLinear(x, weight: weight, bias: bias)
    }

    /// y = x · Wᵀ + b for x [rows, in], W [out, in]: nn.Linear up to summation order. The output
    /// features are cut into blocks of at most blasSingleThreadWork multiply-adds, one sgemm each,
    /// and the blocks are split over the threads; the bias is added to each block's products (the
    /// same single addition Ops.linear makes).
    public static func fewRowsLinear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        fewRowsLinear(x, weight: WeightMatrix(weight), bias: bias)
    }

    public static func fewRowsLinear(_ x: Tensor, weight: WeightMatrix, bias: Tensor?) -> Tensor {
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
                weight.withUnsafeFloats { wp in
                    nonisolated(unsafe) let (xs, ws, ys) = (xp.baseAddress!, wp, y.baseAddress!)
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
    /// bf16 decoding steps up to this many rows take `bf16RowsLinear` where the CPU has AVX512-BF16.
    public static let bf16StreamingRows = 4

    /// Whether this CPU runs `bf16RowsLinear` (the instruction oneDNN's bf16 products need too).
    public static let hasBF16DotProduct = OneDNN.nativeBF16

    /// nn.Linear in bf16 for a decoding step's few rows, as OneDNN.linear computes it (x rounded to
    /// bf16, products of bf16 values exact in fp32, fp32 sums, bias added in fp32) up to summation
    /// order, through CKernels' AVX512-BF16 kernel: the weights stream from memory once, 32 values
    /// per load, each load multiplied into every row's sums. Output features are split over threads;
    /// each output's operations do not depend on the split or the row count. Call only where
    /// `hasBF16DotProduct`.
    public static func bf16RowsLinear(_ x: Tensor, weight: BF16Matrix, bias: Tensor?) -> Tensor {
        let m = x.rows, n = weight.rows, k = weight.columns
        precondition(hasBF16DotProduct, "bf16RowsLinear needs AVX512-BF16")
        precondition(x.lastDim == k, "linear: input features \(x.lastDim) != weight in \(k)")
        precondition(bias.map { $0.count == n } ?? true, "linear: bias has \(bias?.count ?? 0) values, expected \(n)")
        var shape = x.shape
        shape[shape.count - 1] = n
        var rounded = [UInt16](repeating: 0, count: x.count)
        BF16.round(x.data, into: &rounded)
        return Tensor.uninitialized(shape) { y in
            guard m > 0 else { return }
            rounded.withUnsafeBufferPointer { xp in
                weight.withUnsafePointer { wp in
                    let run = { (bp: UnsafePointer<Float>?) in
                        nonisolated(unsafe) let (xs, ws, ys, bs) = (xp.baseAddress!, wp, y.baseAddress!, bp)
                        Parallel.forEachRange(n, minPerThread: 64) { range in
                            capfilt_bf16_linear_rows(xs, Int32(m), Int32(k), ws, Int32(range.lowerBound), Int32(range.upperBound),
                                                     ys, Int32(n), bs)
                        }
                    }
                    if let bias { bias.data.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                }
            }
        }
    }
}
