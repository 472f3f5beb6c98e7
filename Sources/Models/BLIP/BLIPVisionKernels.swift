// Two kernels of the BLIP vision tower at 577 tokens, where the shared ones are slow:
// - attention: Ops.attention spreads (item, head) pairs over threads, and at 577 tokens each pair's
//   gemms are big enough for OpenBLAS to thread them too, so two caller threads fight over its
//   thread pool (~10× slower than the gemms' flops). Here the heads run one after another, each
//   gemm threaded by OpenBLAS, and only the softmax rows are split over threads.
// - exact GELU: erff per element costs more than the MLP's first gemm. PyTorch's vectorised GELU
//   evaluates erf with Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7); so does this one, in a loop
//   the optimiser can vectorise.
import Foundation
import Tensor

enum BLIPVisionKernels {
    /// softmax(Q·Kᵀ/√d)·V over a fused [batch·seq, 3·hidden] = [Q | K | V] projection, no mask.
    static func attention(qkv: Tensor, batch: Int, seq: Int, heads: Int) -> Tensor {
        let d3 = qkv.lastDim, d = d3 / 3, hd = d / heads
        let scale = 1 / Float(hd).squareRoot()
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: seq * seq)
        defer { scores.deallocate() }
        return Tensor.uninitialized([batch * seq, d]) { out in
            qkv.data.withUnsafeBufferPointer { src in
                for b in 0..<batch {
                    for h in 0..<heads {
                        let base = src.baseAddress! + b * seq * d3
                        BLAS.gemm(transA: false, transB: true, m: seq, n: seq, k: hd, alpha: scale,
                                  a: base + h * hd, lda: d3, b: base + d + h * hd, ldb: d3, c: scores, ldc: seq)
                        nonisolated(unsafe) let s = scores
                        Parallel.forEachRange(seq, minPerThread: 32) { rows in
                            for i in rows { BLIPAttentionKernel.softmax(s + i * seq, count: seq) }
                        }
                        BLAS.gemm(transA: false, transB: false, m: seq, n: hd, k: seq,
                                  a: scores, lda: seq, b: base + 2 * d + h * hd, ldb: d3,
                                  c: out.baseAddress! + b * seq * d + h * hd, ldc: d)
                    }
                }
            }
        }
    }

    /// x·Φ(x) with erf by Abramowitz–Stegun 7.1.26, as PyTorch's vectorised CPU GELU.
    static func gelu(_ x: inout Tensor) {
        x.data.withUnsafeMutableBufferPointer { buf in
            nonisolated(unsafe) let p = buf.baseAddress!
            Parallel.forEachRange(buf.count, minPerThread: 1 << 14) { range in
                for i in range { p[i] = gelu(p[i]) }
            }
        }
    }

    @inline(__always)
    static func gelu(_ v: Float) -> Float {
        let z = v * 0.70710678118654752
        let a = abs(z)
        let t = 1 / (1 + 0.3275911 * a)
        let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
        let e = 1 - poly * FastMath.exp(-a * a)
        let erf = z < 0 ? -e : e
        return 0.5 * v * (1 + erf)
    }
}

