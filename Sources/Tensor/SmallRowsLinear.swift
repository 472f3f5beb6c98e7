// nn.Linear for the few rows of a decoding step (a batch's beams or samples) through OpenBLAS's
// own AVX-512 kernels. When this was measured our Swift loops were built for baseline x86-64 (SSE,
// no FMA; they are AVX2 now, Package.swift, and the crossover was not measured again), so the
// streaming kernel in Ops.linear ran out of instructions at a few rows, while one plain sgemm over
// a whole weight matrix packs it first (more memory traffic than the product). Column blocks small
// enough for OpenBLAS's small-matrix path read the weights once, in place, on the calling thread.

extension Ops {
    /// The work of one column block here, and the size above which attention's `callerGEMM` takes
    /// oneDNN: OpenBLAS 0.3.21's threading threshold (65536 × 4 in Debian's build), under which its
    /// small-matrix kernels read the weights in place.
    public static let blasSingleThreadWork = 65536 * 4

    /// Inputs up to this many rows go through `fewRowsLinear` in the decoder.
    public static let fewRowsLimit = 32

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
