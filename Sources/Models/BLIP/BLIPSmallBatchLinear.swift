// nn.Linear for the few rows a decoding step has (one per beam or sample). With so few rows the
// product is bound by reading the weights, and OpenBLAS's sgemm (0.3.21 on Debian 12, no gemv
// forwarding) packs the whole weight matrix first — more memory traffic than the product itself.
// This kernel streams each weight row once and dots it with every input row held in L1.
import Tensor

extension Linear {
    /// Rows at or below this go through the streaming kernel; larger batches through sgemm.
    static let streamingRowLimit = 8

    /// Same result as callAsFunction (up to summation order), choosing the kernel by row count.
    func apply(_ x: Tensor) -> Tensor {
        let m = x.rows
        if m > Self.streamingRowLimit || m == 0 { return self(x) }
        let n = weight.shape[0], k = weight.shape[1]
        precondition(x.lastDim == k, "linear: input features \(x.lastDim) != weight in \(k)")
        var shape = x.shape
        shape[shape.count - 1] = n
        return Tensor.uninitialized(shape) { y in
            x.data.withUnsafeBufferPointer { xp in
                weight.data.withUnsafeBufferPointer { wp in
                    nonisolated(unsafe) let (xs, ws, ys) = (xp.baseAddress!, wp.baseAddress!, y.baseAddress!)
                    let bias = self.bias?.data
                    Parallel.forEachRange(n, minPerThread: 64) { range in
                        Self.stream(xs, m: m, k: k, ws, range, ys, n: n, bias: bias)
                    }
                }
            }
        }
    }

    /// Four input rows at a time with their accumulators in registers; a last block of fewer
    /// rows repeats its final row in the unused lanes and discards those results.
    private static func stream(_ x: UnsafePointer<Float>, m: Int, k: Int, _ w: UnsafePointer<Float>, _ range: Range<Int>,
                               _ y: UnsafeMutablePointer<Float>, n: Int, bias: [Float]?) {
        typealias V = SIMD8<Float>
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        let vec = k & ~7
        for j in range {
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
}
