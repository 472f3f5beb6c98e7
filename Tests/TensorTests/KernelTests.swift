import Foundation
import Tensor
import XCTest

/// The largest |y − x·Wᵀ − b| / max(1, Σ|x·w|) over a linear layer's outputs, evaluated in double
/// (x [m, k], w [n, k] row-major, y [m, n]): float summation error grows with Σ|x·w| in any order.
func linearRelativeError(_ y: Tensor, x: [Float], w: [Float], bias: Tensor?, m: Int, k: Int, n: Int) -> Double {
    var worst: Double = 0
    for r in 0..<m { for o in 0..<n {
        var s = bias.map { Double($0.data[o]) } ?? 0, magnitude = abs(s)
        for i in 0..<k {
            let p = Double(x[r * k + i]) * Double(w[o * k + i])
            s += p
            magnitude += abs(p)
        }
        worst = max(worst, abs(s - Double(y.data[r * n + o])) / max(1, magnitude))
    } }
    return worst
}

/// The kernels both model families share (moved here from BLIP), each against a direct
/// double-precision evaluation of its definition, on both of its schedules where it has two.
final class KernelTests: XCTestCase {
    var g = SplitMix64(seed: 7)
    func random(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(g.nextDouble() * 4 - 2) })
    }

    /// Row counts on both sides of `streamingRowLimit`, and feature counts that leave a scalar
    /// tail after the 8-lane loop and a partial block of 4 rows.
    func testLinearBothKernelsMatchNaive() {
        var worst: Double = 0
        for k in [13, 67] {
            let w = random([37, k]), b = random([37])
            for m in [1, 2, 3, 4, 5, 7, 8, 9, 33] {
                let x = random([m, k])
                for bias in [b, nil] {
                    let y = Ops.linear(x, weight: w, bias: bias)
                    XCTAssertEqual(y.shape, [m, 37])
                    worst = max(worst, linearRelativeError(y, x: x.data, w: w.data, bias: bias, m: m, k: k, n: 37))
                }
            }
        }
        // Relative to Σ|x·w|: float summation error grows with it, in any order.
        print("linear (streaming ≤ \(Ops.streamingRowLimit) rows, sgemm above) max |Δ| / Σ|x·w| \(worst)")
        XCTAssertLessThan(worst, 1e-6)
    }

    /// The encoders' [in, out] layer (Linear.WeightLayout.inOut, oneDNN's sgemm) against double
    /// precision at 0, 1, a few and many rows, with an output count that leaves a partial block of
    /// 16 columns, a product big enough to be split over the threads, and no bias; its `weight`
    /// gives back the stored [out, in] matrix exactly.
    func testInOutLayerMatchesNaive() {
        var worst: Double = 0
        for (k, n) in [(13, 37), (67, 37), (300, 700)] {
            let w = random([n, k]), b = random([n])
            let layers = [Linear(transposing: w, bias: b), Linear(transposing: w, bias: nil)]
            XCTAssertEqual(layers[0].layout, .inOut)
            XCTAssertEqual(layers[0].weight.shape, [n, k])
            XCTAssertEqual(layers[0].weight.data, w.data)
            for m in [0, 1, 3, 9, 50] {
                let x = random([m, k])
                for (layer, bias) in zip(layers, [b, nil]) {
                    let y = layer(x)
                    XCTAssertEqual(y.shape, [m, n])
                    worst = max(worst, linearRelativeError(y, x: x.data, w: w.data, bias: bias, m: m, k: k, n: n))
                    XCTAssertEqual(layer.decodingStep(x).data, y.data)
                }
            }
        }
        // Bit for bit the same on 1 and 2 threads (each thread takes a block of output columns).
        let before = BLAS.threads
        defer { BLAS.setThreads(before) }
        let w = random([1100, 768]), x = random([50, 768]), layer = Linear(transposing: w, bias: random([1100]))
        BLAS.setThreads(1)
        let one = layer(x)
        BLAS.setThreads(2)
        XCTAssertEqual(layer(x).data, one.data, "[in, out] layer: 1 and 2 threads differ")
        print("linear, [in, out] layout through oneDNN: max |Δ| / Σ|x·w| \(worst)")
        XCTAssertLessThan(worst, 1e-6)
    }

    /// Stacked matrices transposed in tiles of 32, at sizes that leave partial tiles both ways.
    func testTransposedStacksAndTransposes() {
        let parts = [random([33, 70]), random([5, 70]), random([40, 70])]
        let t = Ops.transposed(parts.map { WeightMatrix($0) })
        let stacked = parts.flatMap(\.data), rows = 78
        XCTAssertEqual(t.count, rows * 70)
        for r in 0..<rows { for c in 0..<70 { XCTAssertEqual(t[c * rows + r], stacked[r * 70 + c]) } }
    }

    /// The decoder's projections (`decodingLinear`, CKernels' AVX-512 kernel) against double
    /// precision at row counts on both sides of its blocks of six rows, with k leaving a partial
    /// 16-value chunk and n a partial block of four; and every row bit for bit the same as that
    /// row alone and as on one thread, which is what lets inputs share the captioner's batch.
    func testDecodingLinearMatchesNaiveAndEachRowIsItsOwn() {
        let before = BLAS.threads
        defer { BLAS.setThreads(before) }
        var worst: Double = 0
        for (k, n) in [(77, 302), (768, 130)] {
            let w = random([n, k]), b = random([n])
            for bias in [b, nil] {
                var alone: [[UInt32]] = []
                let x = random([25, k])
                BLAS.setThreads(1)
                for r in 0..<25 {
                    let row = Tensor(shape: [1, k], data: Array(x.data[(r * k)..<((r + 1) * k)]))
                    alone.append(Ops.decodingLinear(row, weight: w, bias: bias).data.map(\.bitPattern))
                }
                for m in [1, 2, 3, 4, 5, 6, 7, 12, 13, 25] {
                    let xm = Tensor(shape: [m, k], data: Array(x.data[0..<(m * k)]))
                    for threads in [1, 2] {
                        BLAS.setThreads(threads)
                        let y = Ops.decodingLinear(xm, weight: w, bias: bias)
                        worst = max(worst, linearRelativeError(y, x: xm.data, w: w.data, bias: bias, m: m, k: k, n: n))
                        for r in 0..<m {
                            XCTAssertEqual(Array(y.data[(r * n)..<((r + 1) * n)]).map(\.bitPattern), alone[r],
                                           "k \(k) m \(m) row \(r), \(threads) threads: not the row's own bits")
                        }
                    }
                }
            }
        }
        print("decodingLinear (AVX-512 kernel: \(Ops.hasAVX512)) max |Δ| / Σ|x·w| \(worst); every row equal to itself alone")
        XCTAssertLessThan(worst, 1e-6)
    }

    /// Naive softmax(Q·Kᵀ/√d)·V for one query over the given visible keys.
    func naive(q: (Int) -> Double, k: (Int, Int) -> Double, v: (Int, Int) -> Double, visible: Int, hd: Int) -> [Double] {
        let scores = (0..<visible).map { j in (0..<hd).map { q($0) * k(j, $0) }.reduce(0, +) / Double(hd).squareRoot() }
        let m = scores.max()!, e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
        return (0..<hd).map { c in (0..<visible).map { v($0, c) * e[$0] / z }.reduce(0, +) }
    }

    /// A sequence long enough that OpenBLAS would thread each head's gemms, which is the schedule
    /// BLIP's 577-token vision tower takes (heads in parallel, oneDNN's sgemm on each thread).
    func testAttentionLongSequenceScheduleMatchesNaive() {
        let batch = 2, seq = 130, heads = 2, hd = 16, d = heads * hd
        XCTAssertGreaterThan(seq * seq * hd, 65536 * 4)
        let qkv = random([batch * seq, 3 * d])
        var worst: Double = 0
        for mask in [AttentionMask.none, AttentionMask(causal: true, keyLengths: [130, 71]), AttentionMask(keyLengths: [3, 129])] {
            let out = Ops.attention(qkv: qkv, batch: batch, seq: seq, heads: heads, mask: mask)
            for b in 0..<batch { for h in 0..<heads { for i in stride(from: 0, to: seq, by: 7) {
                let keyLen = mask.keyLengths?[b] ?? seq
                let visible = mask.causal ? min(i + 1, keyLen) : keyLen
                func at(_ t: Int, _ part: Int, _ c: Int) -> Double { Double(qkv.data[(b * seq + t) * 3 * d + part * d + h * hd + c]) }
                let ref = naive(q: { at(i, 0, $0) }, k: { at($0, 1, $1) }, v: { at($0, 2, $1) }, visible: visible, hd: hd)
                for c in 0..<hd { worst = max(worst, abs(ref[c] - Double(out.data[(b * seq + i) * d + h * hd + c]))) }
            } } }
        }
        print("attention, \(seq) tokens (heads in parallel, oneDNN sgemm) max |Δ| \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    /// Decoding-step attention against keys/values held elsewhere: per-row key blocks with their
    /// own stride (a KV cache), shared by two query rows (beams of one image), causal visibility.
    func testAttentionOverExternalKeysMatchesNaive() {
        let rows = 3, tq = 2, heads = 3, hd = 4, d = heads * hd, keyCount = 9, ldkv = 2 * d
        let q = random([rows * tq, d]), kv = random([2 * keyCount, ldkv])
        let blockOfRow = [0, 1, 1]
        let visible: (Int, Int) -> Int = { r, i in r == 0 ? keyCount : keyCount - 1 + i - tq + 1 }
        var out = [Float](repeating: .nan, count: rows * tq * d)
        q.data.withUnsafeBufferPointer { qp in
            kv.data.withUnsafeBufferPointer { kp in
                out.withUnsafeMutableBufferPointer { op in
                    let base = kp.baseAddress!
                    Ops.attention(q: qp.baseAddress!, ldq: d, rows: rows, tq: tq, keyCount: keyCount, heads: heads, headDim: hd,
                                  keys: { base + blockOfRow[$0] * keyCount * ldkv }, values: { base + blockOfRow[$0] * keyCount * ldkv + d },
                                  ldkv: ldkv, visible: visible, out: op.baseAddress!, ldo: d)
                }
            }
        }
        var worst: Double = 0
        for r in 0..<rows { for h in 0..<heads { for i in 0..<tq {
            func key(_ j: Int, _ c: Int) -> Double { Double(kv.data[(blockOfRow[r] * keyCount + j) * ldkv + h * hd + c]) }
            func value(_ j: Int, _ c: Int) -> Double { Double(kv.data[(blockOfRow[r] * keyCount + j) * ldkv + d + h * hd + c]) }
            let ref = naive(q: { Double(q.data[(r * tq + i) * d + h * hd + $0]) }, k: key, v: value, visible: visible(r, i), hd: hd)
            for c in 0..<hd { worst = max(worst, abs(ref[c] - Double(out[(r * tq + i) * d + h * hd + c]))) }
        } } }
        print("attention over external keys/values max |Δ| \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    /// Packed query segments of different lengths (no padding rows), two of them reading the same
    /// key block (texts of one image), one empty, each with its own key count.
    func testAttentionOverPackedSegmentsMatchesNaive() {
        let worst = packedSegmentsWorst(heads: 2, hd: 8, segments: [0..<5, 5..<6, 6..<6, 6..<13], blockOfSegment: [0, 1, 1, 0],
                                        blockKeys: [7, 3])
        print("attention over packed segments max |Δ| \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    /// The same at ITM's sizes, where a segment (all texts of a frame against its image tokens) is
    /// above OpenBLAS's threading threshold and its products go to oneDNN on the calling thread.
    func testAttentionOverLargePackedSegmentsMatchesNaive() {
        let worst = packedSegmentsWorst(heads: 3, hd: 16, segments: [0..<300, 300..<303, 303..<520], blockOfSegment: [0, 1, 0],
                                        blockKeys: [577, 40])
        XCTAssertGreaterThan(300 * 577 * 16, 65536 * 4)
        print("attention over large packed segments (oneDNN sgemm) max |Δ| \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    /// Causal packed segments, each against its own tokens' keys (CLIP's text tower, packed): query
    /// i of a segment sees keys 0...i; a segment of one token, and one longer than another's keys.
    func testAttentionOverPackedCausalSegmentsMatchesNaive() {
        let worst = packedSegmentsWorst(heads: 2, hd: 8, segments: [0..<5, 5..<6, 6..<13, 13..<40], blockOfSegment: [0, 1, 2, 3],
                                        blockKeys: [5, 1, 7, 27], causal: true)
        print("attention over causal packed segments max |Δ| \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    func packedSegmentsWorst(heads: Int, hd: Int, segments: [Range<Int>], blockOfSegment: [Int], blockKeys: [Int],
                             causal: Bool = false) -> Double {
        let d = heads * hd, ldkv = 2 * d, queries = segments.map(\.upperBound).max()!
        let keyCount = blockOfSegment.map { blockKeys[$0] }
        let blockStart = blockKeys.indices.map { blockKeys.prefix($0).reduce(0, +) }
        let q = random([queries, d]), kv = random([blockKeys.reduce(0, +), ldkv])
        var out = [Float](repeating: .nan, count: queries * d)
        q.data.withUnsafeBufferPointer { qp in
            kv.data.withUnsafeBufferPointer { kp in
                out.withUnsafeMutableBufferPointer { op in
                    let base = kp.baseAddress!
                    Ops.attention(q: qp.baseAddress!, ldq: d, segments: segments, heads: heads, headDim: hd,
                                  keys: { base + blockStart[blockOfSegment[$0]] * ldkv }, values: { base + blockStart[blockOfSegment[$0]] * ldkv + d },
                                  keyCount: { keyCount[$0] }, ldkv: ldkv, causal: causal, out: op.baseAddress!, ldo: d)
                }
            }
        }
        var worst: Double = 0
        for (s, rows) in segments.enumerated() { for i in stride(from: rows.lowerBound, to: rows.upperBound, by: rows.count > 50 ? 7 : 1) { for h in 0..<heads {
            let first = blockStart[blockOfSegment[s]]
            func key(_ j: Int, _ c: Int) -> Double { Double(kv.data[(first + j) * ldkv + h * hd + c]) }
            func value(_ j: Int, _ c: Int) -> Double { Double(kv.data[(first + j) * ldkv + d + h * hd + c]) }
            let visible = causal ? min(i - rows.lowerBound + 1, keyCount[s]) : keyCount[s]
            let ref = naive(q: { Double(q.data[i * d + h * hd + $0]) }, k: key, v: value, visible: visible, hd: hd)
            for c in 0..<hd { worst = max(worst, abs(ref[c] - Double(out[i * d + h * hd + c]))) }
        } } }
        return worst
    }

    /// Abramowitz–Stegun erf against the exact GELU over the range activations take.
    func testGELUMatchesExactOverRange() {
        let xs = stride(from: -10.0, through: 10.0, by: 0.001).map { Float($0) }
        var t = Tensor(shape: [xs.count], data: xs)
        Activation.gelu.apply(&t)
        var worst: Double = 0
        for (x, y) in zip(xs, t.data) {
            let exact = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            worst = max(worst, abs(exact - Double(y)) / max(1, abs(Double(x))))
        }
        // Relative above |x| = 1, where the float result's own rounding dominates.
        print("gelu over [-10, 10] max |Δ| / max(1, |x|) \(worst)")
        XCTAssertLessThan(worst, 3e-7)
    }

    func testL2NormalizeEps() {
        let x = Tensor(shape: [2, 2], data: [3, 4, 0, 0])
        XCTAssertEqual(Ops.l2NormalizeRows(x, eps: 1e-12).data, [0.6, 0.8, 0, 0])
        XCTAssertTrue(Ops.l2NormalizeRows(x).data[2].isNaN)   // CLIP divides by the bare norm, as torch
    }

    /// The reference stream of Vigna's splitmix64.c for seed 0.
    func testSplitMix64ReferenceStream() {
        var r = SplitMix64(seed: 0)
        XCTAssertEqual([r.next(), r.next(), r.next()], [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        var a = SplitMix64(seed: 9), b = SplitMix64(seed: 9)
        XCTAssertEqual(a.nextDouble(), Double(b.next() >> 11) / Double(UInt64(1) << 53))
        XCTAssertEqual(a.nextInt(below: 7), Int(b.next() % 7))
    }
}
