// Row-wise kernels for transformer layers. Activations are [rows, features] matrices; every
// matrix product goes through Ops.gemm (split over the threads) or BLAS.gemm (on the caller's
// thread), the rest are tight loops the optimiser vectorises.
import Foundation

public enum Ops {
    /// y = x · Wᵀ + b for x [rows, in], W [out, in] (PyTorch's nn.Linear layout, so checkpoints
    /// load without transposing). The bias is copied into y first and gemm accumulates onto it.
    /// Up to `streamingRowLimit` rows (a decoding step's beams or samples, a batch-1 projection)
    /// go through `streamingLinear` instead; both give nn.Linear's result up to summation order.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        linear(x, weight: WeightMatrix(weight), bias: bias)
    }

    public static func linear(_ x: Tensor, weight: WeightMatrix, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2, "linear: weight must be 2-D, got \(weight.shape)")
        let outF = weight.shape[0], inF = weight.shape[1]
        precondition(x.lastDim == inF, "linear: input features \(x.lastDim) != weight in \(inF)")
        precondition(bias.map { $0.count == outF } ?? true, "linear: bias has \(bias?.count ?? 0) values, expected \(outF)")
        let rows = x.rows
        var outShape = x.shape
        outShape[outShape.count - 1] = outF
        if rows > 0 && rows <= streamingRowLimit { return streamingLinear(x, weight: weight, bias: bias, shape: outShape) }
        return Tensor.uninitialized(outShape) { y in
            fill(y, rows: rows, with: bias)
            x.data.withUnsafeBufferPointer { xp in
                weight.withUnsafeFloats { wp in
                    gemm(transA: false, transB: true, m: rows, n: outF, k: inF,
                         a: xp.baseAddress!, lda: inF, b: wp, ldb: inF,
                         beta: bias == nil ? 0 : 1, c: y.baseAddress!, ldc: outF)
                }
            }
        }
    }

    /// y = x · W + b for x [rows, in] and W [in, out], an nn.Linear weight transposed at load
    /// (Linear.WeightLayout.inOut): `gemm` with neither operand transposed. Any row count.
    public static func linearInOut(_ x: Tensor, weight: [Float], outFeatures outF: Int, bias: Tensor?) -> Tensor {
        let inF = x.lastDim, rows = x.rows
        precondition(weight.count == inF * outF, "linear: input features \(x.lastDim) != weight in \(weight.count / max(outF, 1))")
        precondition(bias.map { $0.count == outF } ?? true, "linear: bias has \(bias?.count ?? 0) values, expected \(outF)")
        var outShape = x.shape
        outShape[outShape.count - 1] = outF
        return Tensor.uninitialized(outShape) { y in
            guard rows > 0 else { return }
            fill(y, rows: rows, with: bias)
            x.data.withUnsafeBufferPointer { xp in
                weight.withUnsafeBufferPointer { wp in
                    gemm(transA: false, transB: false, m: rows, n: outF, k: inF, a: xp.baseAddress!, lda: inF,
                         b: wp.baseAddress!, ldb: outF, beta: bias == nil ? 0 : 1, c: y.baseAddress!, ldc: outF)
                }
            }
        }
    }

    /// Copies the bias into each of y's `rows` rows, for a product that accumulates onto it (beta 1).
    private static func fill(_ y: UnsafeMutableBufferPointer<Float>, rows: Int, with bias: Tensor?) {
        guard let bias else { return }
        bias.data.withUnsafeBufferPointer { b in
            for r in 0..<rows { (y.baseAddress! + r * b.count).update(from: b.baseAddress!, count: b.count) }
        }
    }

    /// The matrices [rows_i, cols] stacked as rows, transposed: [cols, Σ rows_i]. In 8 × 8 tiles
    /// written a row at a time, 4.2 GB/s against 1.1 for 32 × 32 tiles read a row at a time (a
    /// layer's weights at load; most of what remains is the fresh pages of the copy).
    public static func transposed(_ parts: [WeightMatrix]) -> [Float] {
        let cols = parts.first?.columns ?? 0, total = parts.reduce(0) { $0 + $1.rows }
        precondition(parts.allSatisfy { $0.columns == cols }, "transposed: matrices of one width, got \(parts.map(\.shape))")
        return [Float](unsafeUninitializedCapacity: cols * total) { buffer, n in
            n = cols * total
            guard let dst = buffer.baseAddress else { return }
            var r0 = 0
            for part in parts {
                let rows = part.rows
                part.withUnsafeFloats { src in
                    for rb in stride(from: 0, to: rows, by: 8) {
                        let re = min(rb + 8, rows)
                        for cb in stride(from: 0, to: cols, by: 8) {
                            for c in cb..<min(cb + 8, cols) {
                                let out = dst + c * total + r0
                                for r in rb..<re { out[r] = src[r * cols + c] }
                            }
                        }
                    }
                }
                r0 += rows
            }
        }
    }

    /// Rows at or below this go through the streaming kernel; larger batches through sgemm.
    public static let streamingRowLimit = 8

    /// nn.Linear for a few rows. With so few rows the product is bound by reading the weights,
    /// and OpenBLAS's sgemm (0.3.21 on Debian 12, no gemv forwarding) packs the whole weight
    /// matrix first — more memory traffic than the product itself. This streams each weight row
    /// once and dots it with every input row held in L1; output features are split over threads.
    static func streamingLinear(_ x: Tensor, weight: WeightMatrix, bias: Tensor?, shape: [Int]) -> Tensor {
        let m = x.rows, n = weight.shape[0], k = weight.shape[1]
        return Tensor.uninitialized(shape) { y in
            x.data.withUnsafeBufferPointer { xp in
                weight.withUnsafeFloats { wp in
                    nonisolated(unsafe) let (xs, ws, ys) = (xp.baseAddress!, wp, y.baseAddress!)
                    let bias = bias?.data
                    Parallel.forEachRange(n, minPerThread: 64) { range in
                        streamRows(xs, m: m, k: k, ws, range, ys, n: n, bias: bias)
                    }
                }
            }
        }
    }

    /// Four input rows at a time with their accumulators in registers; a last block of fewer
    /// rows repeats its final row in the unused lanes and discards those results.
    private static func streamRows(_ x: UnsafePointer<Float>, m: Int, k: Int, _ w: UnsafePointer<Float>, _ range: Range<Int>,
                                   _ y: UnsafeMutablePointer<Float>, n: Int, bias: [Float]?) {
        typealias V = SIMD8<Float>
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        let vec = k & ~7
        var first = range.lowerBound
        if m == 1 {
            // One input row (a greedy step, a batch-1 projection): four weight rows per pass, so
            // each load of x serves four of them; the block below would load x four times per
            // weight vector and throw three of the sums away. Each output is the same expression
            // as there (eight lanes over k, summed, the tail, then the bias), so which path a
            // feature takes, and how threads split the features, changes no bit.
            while first + 4 <= range.upperBound {
                let w0 = w + first * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k
                var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                var i = 0
                while i < vec {
                    let xv = load(x + i)
                    a0 += load(w0 + i) * xv
                    a1 += load(w1 + i) * xv
                    a2 += load(w2 + i) * xv
                    a3 += load(w3 + i) * xv
                    i += 8
                }
                @inline(__always) func finish(_ a: V, _ wr: UnsafePointer<Float>, _ j: Int) {
                    var s = a.sum()
                    var t = vec
                    while t < k { s += wr[t] * x[t]; t += 1 }
                    y[j] = s + (bias?[j] ?? 0)
                }
                finish(a0, w0, first); finish(a1, w1, first + 1); finish(a2, w2, first + 2); finish(a3, w3, first + 3)
                first += 4
            }
        }
        for j in first..<range.upperBound {
            let wr = w + j * k
            let b = bias?[j] ?? 0
            var r0 = 0
            while r0 < m {
                let count = min(4, m - r0)
                let x0 = x + r0 * k
                let x1 = x0 + min(1, count - 1) * k, x2 = x0 + min(2, count - 1) * k, x3 = x0 + min(3, count - 1) * k
                var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                var i = 0
                while i < vec {
                    let wv = load(wr + i)
                    a0 += wv * load(x0 + i)
                    a1 += wv * load(x1 + i)
                    a2 += wv * load(x2 + i)
                    a3 += wv * load(x3 + i)
                    i += 8
                }
                for r in 0..<count {
                    var s = r == 0 ? a0.sum() : r == 1 ? a1.sum() : r == 2 ? a2.sum() : a3.sum()
                    var t = vec
                    let xr = x0 + r * k
                    while t < k { s += wr[t] * xr[t]; t += 1 }
                    y[(r0 + r) * n + j] = s + b
                }
                r0 += 4
            }
        }
    }

    /// C = A · B for A [m, k], B [k, n].
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2)
        let m = a.shape[0], k = a.shape[1]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition((transposeB ? b.shape[1] : b.shape[0]) == k, "matmul: \(a.shape) × \(b.shape)")
        return Tensor.uninitialized([m, n]) { c in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    gemm(transA: false, transB: transposeB, m: m, n: n, k: k,
                         a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: transposeB ? k : n,
                         c: c.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// OpenBLAS 0.3.21 multiplies products of at most this many multiply-adds with its small-matrix
    /// kernels (sgemm_small_kernel_permit: M·N·K ≤ 100³), which sum in another order than its
    /// blocked kernels. A product is split only when every part stays above it: then each part and
    /// the unsplit product take the same blocked kernel, whose sums run over k in the same order
    /// whatever the partition of rows and columns — so results do not depend on the thread count
    /// (an array task on one CPU writes what a two-thread run writes; ClusterSlurmTests holds it).
    /// oneDNN's sgemm, the default below, keeps the same property at these sizes (OpsTests).
    static let smallKernelWork = 100 * 100 * 100

    /// Which sgemm `gemm` runs on each thread. oneDNN's (jit, AVX-512 here) is ahead of OpenBLAS's at
    /// every model shape measured on one thread (50 rows, k 768: 81–86 against 76–78 GF/s; 151
    /// rows: 90–94 against 78–81; 577: 103 against 98), and the fp32 end-to-end job went from
    /// 59.8–59.9 s to 55.9–56.1 s (caption 20.0 → 18.1 s, filter 36.0 → 34.5 s).
    /// CAPFILT_SGEMM=openblas in the environment brings OpenBLAS back (for A/B benchmarks).
    public static let oneDNNProducts = ProcessInfo.processInfo.environment["CAPFILT_SGEMM"] != "openblas"

    /// Row-major C = alpha·op(A)·op(B) + beta·C on the calling thread alone.
    @inline(__always)
    static func productOnThisThread(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                                    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if oneDNNProducts {
            OneDNN.sgemmOnThisThread(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// Row-major C = alpha·op(A)·op(B) + beta·C split over the runtime's threads, one
    /// single-threaded sgemm per part (`productOnThisThread`; OpenBLAS runs on one thread, see
    /// BLAS.swift, and oneDNN gets a team of one). A part is a block of output columns when op(A)
    /// is the smaller operand — each thread then packs all of A and only its share of B, the
    /// weights — and a block of rows otherwise. The result equals an unsplit call up to summation
    /// order (a small part may take OpenBLAS's small-matrix kernel).
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let t = BLAS.threads
        // Column blocks of a multiple of 16 floats (one 64-byte line of C per row); row blocks of
        // m / t rows. The smallest part decides whether to split at all.
        let block = ((n + t - 1) / t + 15) / 16 * 16
        let smallestPart = m <= n ? m * min(block, n - (n - 1) / block * block) * k : (m / t) * n * k
        guard t > 1, smallestPart > smallKernelWork else {
            productOnThisThread(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        if m <= n {
            let parts = (n + block - 1) / block
            Parallel.forEachRange(parts, minPerThread: 1) { range in
                for p in range {
                    let j0 = p * block, cols = min(block, n - j0)
                    productOnThisThread(transA: transA, transB: transB, m: m, n: cols, k: k, alpha: alpha, a: a, lda: lda,
                              b: transB ? b + j0 * ldb : b + j0, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
                }
            }
        } else {
            Parallel.forEachRange(t, minPerThread: 1) { range in
                for p in range {
                    let i0 = m * p / t, i1 = m * (p + 1) / t
                    productOnThisThread(transA: transA, transB: transB, m: i1 - i0, n: n, k: k, alpha: alpha,
                              a: transA ? a + i0 : a + i0 * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + i0 * ldc, ldc: ldc)
                }
            }
        }
    }

    /// LayerNorm over the last dimension, as torch.nn.functional.layer_norm: biased variance,
    /// eps inside the square root, two passes (mean, then centred squares) with 8-lane float
    /// accumulators; rows are split over threads.
    public static func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        let d = x.lastDim, rows = x.rows
        precondition(weight.count == d && bias.count == d, "layerNorm: parameter size != \(d)")
        return Tensor.uninitialized(x.shape) { y in
            x.data.withUnsafeBufferPointer { xp in
                weight.data.withUnsafeBufferPointer { g in
                    bias.data.withUnsafeBufferPointer { b in
                        nonisolated(unsafe) let (xs, ys, gs, bs) = (xp.baseAddress!, y.baseAddress!, g.baseAddress!, b.baseAddress!)
                        Parallel.forEachRange(rows, minPerThread: 16) { range in
                            for r in range { layerNormRow(xs + r * d, ys + r * d, gs, bs, d, eps) }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func layerNormRow(_ row: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                             _ g: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ d: Int, _ eps: Float) {
        typealias V = SIMD8<Float>
        let vec = d & ~7
        var acc = V()
        var i = 0
        while i < vec { acc += UnsafeRawPointer(row + i).loadUnaligned(as: V.self); i += 8 }
        var sum = acc.sum()
        while i < d { sum += row[i]; i += 1 }
        let mean = sum / Float(d)
        var acc2 = V()
        i = 0
        while i < vec {
            let t = UnsafeRawPointer(row + i).loadUnaligned(as: V.self) - mean
            acc2 += t * t
            i += 8
        }
        var sq = acc2.sum()
        while i < d { let t = row[i] - mean; sq += t * t; i += 1 }
        let rstd = 1 / (sq / Float(d) + eps).squareRoot()
        for j in 0..<d { out[j] = (row[j] - mean) * rstd * g[j] + b[j] }
    }

    /// a += b elementwise (residual connections).
    public static func addInPlace(_ a: inout Tensor, _ b: Tensor) {
        precondition(a.count == b.count, "add: \(a.shape) vs \(b.shape)")
        a.data.withUnsafeMutableBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                for i in 0..<ap.count { ap[i] += bp[i] }
            }
        }
    }

    /// Scales each row of a [rows, d] matrix to unit L2 norm: x / max(‖x‖, eps). eps 0 is CLIP's
    /// _get_vector_norm division; BLIP's torch.nn.functional.normalize uses eps 1e-12.
    public static func l2NormalizeRows(_ x: Tensor, eps: Float = 0) -> Tensor {
        var y = x
        let d = x.lastDim
        y.data.withUnsafeMutableBufferPointer { p in
            for r in 0..<x.rows {
                var s: Double = 0
                for i in 0..<d { s += Double(p[r * d + i]) * Double(p[r * d + i]) }
                let n = max(Float(s.squareRoot()), eps)
                for i in 0..<d { p[r * d + i] /= n }
            }
        }
        return y
    }

    /// Numerically stable softmax of `cols` values in place (max subtracted first, as torch).
    @inline(__always)
    static func softmaxInPlace(_ p: UnsafeMutablePointer<Float>, count cols: Int) {
        // The max and the sum are reductions, which the optimiser keeps in scalar order (one
        // dependent compare or add per element); eight lanes make them independent. The max is
        // exact in any order; the sum's order changes its last bits only. One thread, 12 heads ×
        // 577 rows of 577: 17.7 → 12.0 ms (baseline x86-64), 7.5 ms with AVX2 (Package.swift).
        let vec = cols & ~7
        var m0 = -Float.infinity, m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0, m6 = m0, m7 = m0
        var i = 0
        while i < vec {
            m0 = max(m0, p[i]); m1 = max(m1, p[i + 1]); m2 = max(m2, p[i + 2]); m3 = max(m3, p[i + 3])
            m4 = max(m4, p[i + 4]); m5 = max(m5, p[i + 5]); m6 = max(m6, p[i + 6]); m7 = max(m7, p[i + 7])
            i += 8
        }
        var mx = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
        while i < cols { mx = max(mx, p[i]); i += 1 }
        // Separate loops: this one vectorises on its own.
        for i in 0..<cols { p[i] = FastMath.exp(p[i] - mx) }
        var lanes = SIMD8<Float>()
        i = 0
        while i < vec { lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self); i += 8 }
        var sum = lanes.sum()
        while i < cols { sum += p[i]; i += 1 }
        let inv = 1 / sum
        for i in 0..<cols { p[i] *= inv }
    }

    /// Softmax over the last dimension.
    public static func softmax(_ x: Tensor) -> Tensor {
        var y = x
        let d = x.lastDim
        y.data.withUnsafeMutableBufferPointer { p in
            for r in 0..<x.rows { softmaxInPlace(p.baseAddress! + r * d, count: d) }
        }
        return y
    }

    /// Gathers rows of an embedding table [vocab, d]; an id outside the table is a caller bug
    /// (tokenizers only emit ids from the vocabulary, which load checks against vocab_size).
    public static func embedding(_ ids: [Int], table: Tensor) -> Tensor {
        embedding(ids, table: WeightMatrix(table.reshaped([table.rows, table.lastDim])))
    }

    public static func embedding(_ ids: [Int], table: WeightMatrix) -> Tensor {
        let d = table.columns, n = table.rows
        return Tensor.uninitialized([ids.count, d]) { y in
            table.withUnsafeFloats { t in
                for (r, id) in ids.enumerated() {
                    precondition(id >= 0 && id < n, "embedding: id \(id) outside table of \(n)")
                    (y.baseAddress! + r * d).update(from: t + id * d, count: d)
                }
            }
        }
    }
}
