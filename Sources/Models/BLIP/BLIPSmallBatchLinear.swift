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

    private static func stream(_ x: UnsafePointer<Float>, m: Int, k: Int, _ w: UnsafePointer<Float>, _ range: Range<Int>,
                               _ y: UnsafeMutablePointer<Float>, n: Int, bias: [Float]?) {
        typealias V = SIMD8<Float>
        let vec = k & ~7
        withUnsafeTemporaryAllocation(of: V.self, capacity: streamingRowLimit) { acc in
            for j in range {
                let wr = w + j * k
                for r in 0..<m { acc[r] = V() }
                var i = 0
                while i < vec {
                    let wv = UnsafeRawPointer(wr + i).loadUnaligned(as: V.self)
                    for r in 0..<m {
                        acc[r] += wv * UnsafeRawPointer(x + r * k + i).loadUnaligned(as: V.self)
                    }
                    i += 8
                }
                let b = bias?[j] ?? 0
                for r in 0..<m {
                    var s = acc[r].sum()
                    var t = vec
                    while t < k { s += wr[t] * x[r * k + t]; t += 1 }
                    y[r * n + j] = s + b
                }
            }
        }
    }
}
