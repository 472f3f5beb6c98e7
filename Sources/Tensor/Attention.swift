// Scaled dot-product attention, equivalent to transformers' eager_attention_forward
// (softmax(Q·Kᵀ·scale + mask)·V), for every model here: encoder self-attention over a fused QKV
// projection (CLIP's text and vision towers, BLIP's vision tower) and decoding steps whose keys and
// values live elsewhere (BLIP's text KV cache and image tokens). Each head is a strided sub-matrix,
// so gemm reads it in place through its leading dimension.

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

    /// Keys query `i` of batch item `b` sees (a prefix of the `seq` keys).
    @inline(__always)
    func visible(_ b: Int, _ i: Int, seq: Int) -> Int {
        let keyLen = keyLengths?[b] ?? seq
        return causal ? min(i + 1, keyLen) : keyLen
    }
}

extension Ops {
    /// qkv: [batch·seq, 3·hidden] laid out as [Q | K | V]; returns [batch·seq, hidden] with heads
    /// concatenated in order (the layout out_proj expects).
    /// Masked keys get probability exactly 0, which is what adding finfo.min before softmax gives
    /// in fp32 whenever at least one key is visible.
    ///
    /// The (item, head) pairs are spread over threads, each pair's two products on its own thread
    /// (`callerGEMM`). (Before: heads in turn with OpenBLAS threading each, and the softmax rows
    /// split: 42–44 ms per BLIP vision layer against 35–39 ms now, on a loaded host.)
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

        /// One (item, head) pair into `s` (seq × seq scratch).
        func head(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ b: Int, _ h: Int,
                  _ s: UnsafeMutablePointer<Float>) {
            let base = src + b * seq * d3
            let q = base + h * hd, k = base + d + h * hd, v = base + 2 * d + h * hd
            callerGEMM(false, true, seq, seq, hd, scale, q, d3, k, d3, s, seq)
            for i in 0..<seq {
                let visible = mask.visible(b, i, seq: seq)
                let row = s + i * seq
                softmaxInPlace(row, count: visible)
                for j in visible..<seq { row[j] = 0 }
            }
            callerGEMM(false, false, seq, hd, seq, 1, s, seq, v, d3, dst + b * seq * d + h * hd, d)
        }

        return Tensor.uninitialized([batch * seq, d]) { out in
            qkv.data.withUnsafeBufferPointer { qp in
                nonisolated(unsafe) let (src, dst) = (qp.baseAddress!, out.baseAddress!)
                Parallel.forEachRange(batch * heads, minPerThread: 1) { pairs in
                    let s = UnsafeMutablePointer<Float>.allocate(capacity: seq * seq)
                    defer { s.deallocate() }
                    for pair in pairs {
                        head(src, dst, pair / heads, pair % heads, s)
                    }
                }
            }
        }
    }

    /// Row-major C = alpha·op(A)·op(B) (beta 0) on the calling thread, for callers that spread
    /// products over `Parallel`'s threads themselves. Both libraries run on the caller's thread
    /// here (OpenBLAS is kept at one thread, BLAS.swift; oneDNN gets a team of one); above
    /// `blasSingleThreadWork` (SmallRowsLinear.swift) oneDNN's sgemm. Measured single-threaded at
    /// 577 or 700 queries × 577 keys × 64, the two were within 10 % of each other: oneDNN 5–8 %
    /// faster on probabilities × values, 2–8 % slower on the scores; not worth a per-product rule.
    static func callerGEMM(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                           _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                           _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if m * n * k > blasSingleThreadWork {
            OneDNN.sgemmOnThisThread(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        } else {
            BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        }
    }

    /// Attention of `rows` query sequences against keys/values that live elsewhere — a KV cache
    /// row, or image tokens that several beams/samples share — so nothing is copied per step.
    /// out[r·tq + i, h·hd ..< (h+1)·hd] for each row r, query i and head h.
    /// - q: [rows·tq, ldq] with the heads' queries at column h·hd.
    /// - keys(r) / values(r): key 0 of row r, successive keys `ldkv` floats apart, head h at h·hd.
    /// - visible(r, i): how many leading keys query i of row r may see (causal and padding masks);
    ///   the rest get probability exactly 0.
    public static func attention(
        q: UnsafePointer<Float>, ldq: Int, rows: Int, tq: Int, keyCount: Int, heads: Int, headDim hd: Int,
        keys: (Int) -> UnsafePointer<Float>, values: (Int) -> UnsafePointer<Float>, ldkv: Int,
        visible: (Int, Int) -> Int, out: UnsafeMutablePointer<Float>, ldo: Int
    ) {
        let scale = 1 / Float(hd).squareRoot()
        withoutActuallyEscaping(keys) { keys in
        withoutActuallyEscaping(values) { values in
        withoutActuallyEscaping(visible) { visible in
            // Shared read-only with the worker threads for the duration of this call.
            nonisolated(unsafe) let (keys, values, visible) = (keys, values, visible)
            nonisolated(unsafe) let (q, out) = (q, out)
            // The (row, head) pairs are spread over threads here, each pair's products on its thread.
            Parallel.forEachRange(rows * heads, minPerThread: 4) { pairs in
                let s = UnsafeMutablePointer<Float>.allocate(capacity: max(tq * keyCount, 1))
                defer { s.deallocate() }
                for pair in pairs {
                    let r = pair / heads, h = pair % heads
                    let qp = q + r * tq * ldq + h * hd
                    let kp = keys(r) + h * hd, vp = values(r) + h * hd
                    callerGEMM(false, true, tq, keyCount, hd, scale, qp, ldq, kp, ldkv, s, keyCount)
                    for i in 0..<tq {
                        let n = visible(r, i)
                        let row = s + i * keyCount
                        softmaxInPlace(row, count: n)
                        for j in n..<keyCount { row[j] = 0 }
                    }
                    callerGEMM(false, false, tq, hd, keyCount, 1, s, keyCount, vp, ldkv, out + r * tq * ldo + h * hd, ldo)
                }
            }
        }
        }
        }
    }
}

extension Ops {
    /// Attention of packed query segments — sequences of different lengths stored back to back,
    /// no padding rows — each against its own keys/values, all of which it sees (no mask), or with
    /// `causal` query i of a segment sees its keys 0...i (a text attending to its own tokens, as
    /// CLIP's text tower does; keys beyond are what the causal mask hides in a padded batch).
    /// out[i, h·hd ..< (h+1)·hd] for every query row i of every segment and head h.
    /// - q: [Σ segment lengths, ldq] with the heads' queries at column h·hd; segment s is the query
    ///   rows `segments[s]`.
    /// - keys(s) / values(s): key 0 of segment s, successive keys `ldkv` floats apart, head h at
    ///   h·hd; keyCount(s) of them.
    /// Several segments may read the same keys/values (a frame's image tokens for all of its texts)
    /// and one segment may hold several texts' queries: each query row's result depends only on its
    /// own query and its segment's keys, so grouping queries into one gemm changes nothing but speed.
    public static func attention(
        q: UnsafePointer<Float>, ldq: Int, segments: [Range<Int>], heads: Int, headDim hd: Int,
        keys: (Int) -> UnsafePointer<Float>, values: (Int) -> UnsafePointer<Float>, keyCount: (Int) -> Int, ldkv: Int,
        causal: Bool = false, out: UnsafeMutablePointer<Float>, ldo: Int
    ) {
        let scale = 1 / Float(hd).squareRoot()
        let live = segments.indices.filter { !segments[$0].isEmpty }
        let scratch = live.map { segments[$0].count * keyCount($0) }.max() ?? 0
        withoutActuallyEscaping(keys) { keys in
        withoutActuallyEscaping(values) { values in
        withoutActuallyEscaping(keyCount) { keyCount in
            nonisolated(unsafe) let (keys, values, keyCount) = (keys, values, keyCount)
            nonisolated(unsafe) let (q, out) = (q, out)
            // The (segment, head) pairs are spread over threads here, each pair's products on its
            // thread: a frame's texts in ITM are hundreds of queries against 577 image tokens.
            Parallel.forEachRange(live.count * heads, minPerThread: 4) { pairs in
                let s = UnsafeMutablePointer<Float>.allocate(capacity: max(scratch, 1))
                defer { s.deallocate() }
                for pair in pairs {
                    let seg = live[pair / heads], h = pair % heads
                    let rows = segments[seg], n = keyCount(seg)
                    let qp = q + rows.lowerBound * ldq + h * hd
                    callerGEMM(false, true, rows.count, n, hd, scale, qp, ldq, keys(seg) + h * hd, ldkv, s, n)
                    for i in 0..<rows.count {
                        let row = s + i * n, visible = causal ? min(i + 1, n) : n
                        softmaxInPlace(row, count: visible)
                        for j in visible..<n { row[j] = 0 }
                    }
                    callerGEMM(false, false, rows.count, hd, n, 1, s, n, values(seg) + h * hd, ldkv,
                               out + rows.lowerBound * ldo + h * hd, ldo)
                }
            }
        }
        }
        }
    }
}
