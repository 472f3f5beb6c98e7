// The attention core of modeling_blip_text.py's BlipTextSelfAttention for decoding: queries of
// `rows` sequences against keys/values that live elsewhere (a row's self-attention KV cache, or the
// image tokens that several beams/samples of one image share), so nothing is copied per step.
// softmax(Q·Kᵀ/√d + mask)·V with masked keys at probability exactly 0, as adding finfo.min gives.
import Foundation
import Tensor

/// Self-attention keys and values of `rows` sequences, `capacity` positions each, per layer:
/// transformers' DynamicCache, laid out [row][position][hidden] so a row's keys are one strided
/// matrix that gemm reads in place.
final class BLIPKVCache: @unchecked Sendable {
    // @unchecked: used by one generation loop at a time; the attention kernel only reads it.
    let layers: Int
    private(set) var rows: Int
    let capacity: Int
    let dim: Int
    /// Positions filled so far (the same for every row).
    var length = 0
    private(set) var keys: [UnsafeMutablePointer<Float>]
    private(set) var values: [UnsafeMutablePointer<Float>]

    init(layers: Int, rows: Int, capacity: Int, dim: Int) {
        self.layers = layers
        self.rows = rows
        self.capacity = capacity
        self.dim = dim
        keys = (0..<layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: max(rows * capacity * dim, 1)) }
        values = (0..<layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: max(rows * capacity * dim, 1)) }
    }

    deinit {
        for p in keys { p.deallocate() }
        for p in values { p.deallocate() }
    }

    func keyRow(_ layer: Int, _ row: Int) -> UnsafeMutablePointer<Float> { keys[layer] + row * capacity * dim }
    func valueRow(_ layer: Int, _ row: Int) -> UnsafeMutablePointer<Float> { values[layer] + row * capacity * dim }

    /// Row r of the result is row `source[r]` of this cache (beam reordering, dropping finished
    /// sequences, or repeating a shared prompt for every beam/sample). Only filled positions move.
    func select(_ source: [Int]) {
        let n = length * dim, stride = capacity * dim
        func gathered(_ buffer: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
            let fresh = UnsafeMutablePointer<Float>.allocate(capacity: max(source.count * stride, 1))
            for (r, s) in source.enumerated() {
                precondition(s >= 0 && s < rows, "cache select: row \(s) of \(rows)")
                (fresh + r * stride).update(from: buffer + s * stride, count: n)
            }
            buffer.deallocate()
            return fresh
        }
        for l in 0..<layers {
            keys[l] = gathered(keys[l])
            values[l] = gathered(values[l])
        }
        rows = source.count
    }
}

enum BLIPAttentionKernel {
    /// out[r·tq + i, h·hd ..< (h+1)·hd] for each row r, query i and head h.
    /// - q: [rows·tq, ldq] with the heads' queries at column h·hd.
    /// - keys(r) / values(r): key 0 of row r, successive keys `ldkv` floats apart, head h at h·hd.
    /// - visible(r, i): how many leading keys query i of row r may see (causal and padding masks).
    static func attend(
        q: UnsafePointer<Float>, ldq: Int, rows: Int, tq: Int, keyCount: Int, heads: Int, headDim hd: Int,
        keys: (Int) -> UnsafePointer<Float>, values: (Int) -> UnsafePointer<Float>, ldkv: Int,
        visible: (Int, Int) -> Int, out: UnsafeMutablePointer<Float>, ldo: Int
    ) {
        let scale = 1 / Float(hd).squareRoot()
        withoutActuallyEscaping(keys) { keys in
        withoutActuallyEscaping(values) { values in
        withoutActuallyEscaping(visible) { visible in
            nonisolated(unsafe) let (keys, values, visible) = (keys, values, visible)
            nonisolated(unsafe) let (q, out) = (q, out)
            // Each (row, head) pair is independent and far below OpenBLAS's threading threshold, so
            // the pairs are spread over threads here.
            Parallel.forEachRange(rows * heads, minPerThread: 4) { pairs in
                let s = UnsafeMutablePointer<Float>.allocate(capacity: max(tq * keyCount, 1))
                defer { s.deallocate() }
                for pair in pairs {
                    let r = pair / heads, h = pair % heads
                    let qp = q + r * tq * ldq + h * hd
                    let kp = keys(r) + h * hd, vp = values(r) + h * hd
                    BLAS.gemm(transA: false, transB: true, m: tq, n: keyCount, k: hd, alpha: scale,
                              a: qp, lda: ldq, b: kp, ldb: ldkv, c: s, ldc: keyCount)
                    for i in 0..<tq {
                        let n = visible(r, i)
                        let row = s + i * keyCount
                        softmax(row, count: n)
                        for j in n..<keyCount { row[j] = 0 }
                    }
                    BLAS.gemm(transA: false, transB: false, m: tq, n: hd, k: keyCount,
                              a: s, lda: keyCount, b: vp, ldb: ldkv, c: out + r * tq * ldo + h * hd, ldc: ldo)
                }
            }
        }
        }
        }
    }

    /// Numerically stable softmax in place (maximum subtracted first, as torch does), with the
    /// vectorisable FastMath.exp.
    @inline(__always)
    static func softmax(_ p: UnsafeMutablePointer<Float>, count: Int) {
        var mx = -Float.infinity
        for i in 0..<count { mx = max(mx, p[i]) }
        for i in 0..<count { p[i] = FastMath.exp(p[i] - mx) }
        var sum: Float = 0
        for i in 0..<count { sum += p[i] }
        let inv = 1 / sum
        for i in 0..<count { p[i] *= inv }
    }
}
