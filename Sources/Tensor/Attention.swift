// Scaled dot-product attention over a fused QKV matrix, equivalent to transformers'
// eager_attention_forward (softmax(Q·Kᵀ·scale + mask)·V). Each head is a strided sub-matrix of
// the [batch·seq, 3·hidden] projection, so gemm reads it in place through its leading dimension.

/// Which keys a query may see. Padding is always at the end of a sequence (right padding), which
/// is what the tokenizers here produce, so it is described by a valid length per batch item.
public struct AttentionMask: Sendable {
    public var causal: Bool
    public var keyLengths: [Int]?

    public init(causal: Bool = false, keyLengths: [Int]? = nil) {
        self.causal = causal
        self.keyLengths = keyLengths
    }

    public static let none = AttentionMask()
}

extension Ops {
    /// qkv: [batch·seq, 3·hidden] laid out as [Q | K | V]; returns [batch·seq, hidden] with heads
    /// concatenated in order (the layout out_proj expects).
    /// Masked keys get probability exactly 0, which is what adding finfo.min before softmax gives
    /// in fp32 whenever at least one key is visible.
    public static func attention(
        qkv: Tensor, batch: Int, seq: Int, heads: Int, mask: AttentionMask
    ) -> Tensor {
        let d3 = qkv.lastDim
        precondition(d3 % 3 == 0 && qkv.rows == batch * seq, "attention: qkv \(qkv.shape) vs \(batch)×\(seq)")
        let d = d3 / 3
        precondition(d % heads == 0, "attention: hidden \(d) not divisible by \(heads) heads")
        let hd = d / heads
        let scale = 1 / Float(hd).squareRoot()
        if let kl = mask.keyLengths { precondition(kl.count == batch && kl.allSatisfy { $0 >= 1 && $0 <= seq }) }

        return Tensor.uninitialized([batch * seq, d]) { out in
            qkv.data.withUnsafeBufferPointer { qp in
                nonisolated(unsafe) let (src, dst) = (qp.baseAddress!, out.baseAddress!)
                // Each (item, head) pair is independent. Its gemms are far below OpenBLAS's
                // threading threshold and run on the calling thread, so the pairs are spread
                // over threads here instead.
                Parallel.forEachRange(batch * heads, minPerThread: 2) { pairs in
                    let s = UnsafeMutablePointer<Float>.allocate(capacity: seq * seq)
                    defer { s.deallocate() }
                    for pair in pairs {
                        let b = pair / heads, h = pair % heads
                        let keyLen = mask.keyLengths?[b] ?? seq
                        let base = src + b * seq * d3
                        let q = base + h * hd, k = base + d + h * hd, v = base + 2 * d + h * hd
                        BLAS.gemm(transA: false, transB: true, m: seq, n: seq, k: hd, alpha: scale,
                                  a: q, lda: d3, b: k, ldb: d3, c: s, ldc: seq)
                        for i in 0..<seq {
                            let visible = mask.causal ? min(i + 1, keyLen) : keyLen
                            let row = s + i * seq
                            softmaxInPlace(row, count: visible)
                            for j in visible..<seq { row[j] = 0 }
                        }
                        BLAS.gemm(transA: false, transB: false, m: seq, n: hd, k: seq,
                                  a: s, lda: seq, b: v, ldb: d3,
                                  c: dst + b * seq * d + h * hd, ldc: d)
                    }
                }
            }
        }
    }
}
