import Foundation
import Tensor
import XCTest

/// Each op against a direct double-precision evaluation of its definition.
final class OpsTests: XCTestCase {
    struct LCG {
        var s: UInt64
        mutating func next() -> Float {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(s >> 33) % 2000 - 1000) / 500
        }
    }
    var g = LCG(s: 42)
    func random(_ shape: [Int]) -> Tensor { Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in g.next() }) }

    /// Ops.gemm splits a product over the threads by output columns (m ≤ n) or by rows: every
    /// transposition, a strided C and beta 1, against double precision; and bit for bit the same
    /// result on 1 and 2 threads (array tasks on one CPU must write what a two-thread run writes).
    func testGEMMSplitOverThreadsMatchesNaiveAndOneThread() {
        let before = BLAS.threads
        defer { BLAS.setThreads(before) }
        var worst: Double = 0
        // 20×2000×40: 1.6 M multiply-adds in all, but halves under OpenBLAS's small-matrix limit.
        // With k 768, the models' width: the parts' sums must run over k as the whole product's do.
        for (m, n, k) in [(37, 3000, 40), (3000, 45, 40), (20, 2000, 40), (3, 5, 7), (50, 1100, 768), (700, 90, 768)] {
            for transA in [false, true] { for transB in [false, true] {
                let a = random(transA ? [k, m] : [m, k]), b = random(transB ? [n, k] : [k, n])
                let ldc = n + 3
                let c0 = random([m, ldc])
                var results: [[Float]] = []
                for threads in [1, 2] {
                    BLAS.setThreads(threads)
                    var c = c0.data
                    a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                        Ops.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: transA ? m : k,
                                 b: bp.baseAddress!, ldb: transB ? k : n, beta: 1, c: cp.baseAddress!, ldc: ldc)
                    } } }
                    results.append(c)
                }
                XCTAssertEqual(results[0], results[1], "\(m)×\(n)×\(k) transA \(transA) transB \(transB): 1 and 2 threads differ")
                let c = results[1]
                for i in stride(from: 0, to: m, by: m > 100 ? 13 : 1) {
                    for j in 0..<ldc {
                        var ref = Double(c0.data[i * ldc + j])
                        if j < n {
                            var dot = 0.0
                            for p in 0..<k {
                                dot += Double(transA ? a.data[p * m + i] : a.data[i * k + p]) * Double(transB ? b.data[j * k + p] : b.data[p * n + j])
                            }
                            ref += 0.5 * dot
                        }
                        worst = max(worst, abs(ref - Double(c[i * ldc + j])))
                    }
                }
            } }
        }
        print("gemm split over threads max |Δ| \(worst)")
        XCTAssertLessThan(worst, 1e-4)
    }

    func testLinearMatchesNaive() {
        let x = random([7, 13]), w = random([5, 13]), b = random([5])
        let y = Ops.linear(x, weight: w, bias: b)
        var worst: Double = 0
        for r in 0..<7 { for o in 0..<5 {
            var s = Double(b.data[o])
            for i in 0..<13 { s += Double(x.data[r * 13 + i]) * Double(w.data[o * 13 + i]) }
            worst = max(worst, abs(s - Double(y.data[r * 5 + o])))
        } }
        print("linear max |Δ| \(worst)")
        XCTAssertEqual(y.shape, [7, 5])
        XCTAssertLessThan(worst, 1e-5)
        XCTAssertLessThan(maxDiff(Ops.linear(x, weight: w, bias: nil).data,
                                  (0..<35).map { y.data[$0] - b.data[$0 % 5] }), 1e-5)
    }

    func testLayerNormMatchesNaive() {
        let x = random([4, 33]), gamma = random([33]), beta = random([33])
        let y = Ops.layerNorm(x, weight: gamma, bias: beta, eps: 1e-5)
        var worst: Double = 0
        for r in 0..<4 {
            let row = (0..<33).map { Double(x.data[r * 33 + $0]) }
            let mean = row.reduce(0, +) / 33
            let v = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 33
            for i in 0..<33 {
                let e = (row[i] - mean) / (v + 1e-5).squareRoot() * Double(gamma.data[i]) + Double(beta.data[i])
                worst = max(worst, abs(e - Double(y.data[r * 33 + i])))
            }
        }
        print("layerNorm max |Δ| \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    func testActivations() throws {
        let xs: [Float] = [-3, -1, -0.5, 0, 0.3, 1, 2.5]
        func run(_ a: Activation) -> [Float] { var t = Tensor(shape: [xs.count], data: xs); a.apply(&t); return t.data }
        let gelu = xs.map { x in 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot())) }
        let quick = xs.map { x in Double(x) / (1 + exp(-1.702 * Double(x))) }
        let d1 = maxDiff(run(.gelu), gelu.map(Float.init)), d2 = maxDiff(run(.quickGelu), quick.map(Float.init))
        print("gelu max |Δ| \(d1), quick_gelu max |Δ| \(d2)")
        XCTAssertLessThan(d1, 1e-6)
        XCTAssertLessThan(d2, 1e-6)
        XCTAssertEqual(try Activation(name: "quick_gelu"), .quickGelu)
        XCTAssertThrowsError(try Activation(name: "swish"))
    }

    func testSoftmaxMatchesNaive() {
        let x = random([3, 9])
        let y = Ops.softmax(x)
        var worst: Double = 0
        for r in 0..<3 {
            let row = (0..<9).map { Double(x.data[r * 9 + $0]) }
            let m = row.max()!, z = row.map { exp($0 - m) }.reduce(0, +)
            for i in 0..<9 { worst = max(worst, abs(exp(row[i] - m) / z - Double(y.data[r * 9 + i]))) }
        }
        print("softmax max |Δ| \(worst)")
        XCTAssertLessThan(worst, 1e-6)
    }

    /// Attention over a fused QKV buffer against a per-head naive implementation with the same
    /// causal and key-padding masks.
    func testAttentionMatchesNaiveWithMasks() {
        let batch = 2, seq = 5, heads = 3, hd = 4, d = heads * hd
        let qkv = random([batch * seq, 3 * d])
        for mask in [AttentionMask.none, AttentionMask(causal: true), AttentionMask(causal: true, keyLengths: [5, 3]),
                     AttentionMask(keyLengths: [2, 4])] {
            let out = Ops.attention(qkv: qkv, batch: batch, seq: seq, heads: heads, mask: mask)
            var worst: Double = 0
            for b in 0..<batch { for h in 0..<heads { for i in 0..<seq {
                let keyLen = mask.keyLengths?[b] ?? seq
                let visible = (0..<seq).filter { j in j < keyLen && (!mask.causal || j <= i) }
                func at(_ t: Int, _ part: Int, _ k: Int) -> Double { Double(qkv.data[(b * seq + t) * 3 * d + part * d + h * hd + k]) }
                let scores = visible.map { j in (0..<hd).map { at(i, 0, $0) * at(j, 1, $0) }.reduce(0, +) / Double(hd).squareRoot() }
                let m = scores.max()!, e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
                for k in 0..<hd {
                    let v = zip(visible, e).map { at($0, 2, k) * $1 / z }.reduce(0, +)
                    worst = max(worst, abs(v - Double(out.data[(b * seq + i) * d + h * hd + k])))
                }
            } } }
            print("attention (causal \(mask.causal), keyLengths \(mask.keyLengths ?? [])) max |Δ| \(worst)")
            XCTAssertLessThan(worst, 1e-5)
        }
    }

    func testFastExpAccuracy() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let e = Double(FastMath.exp(x)), ref = Foundation.exp(Double(x))
            worst = max(worst, abs(e - ref) / ref)
            x += 0.0137
        }
        print("FastMath.exp max relative error on [-87, 88]: \(worst)")
        XCTAssertLessThan(worst, 5e-7)
        XCTAssertEqual(FastMath.exp(-1000), FastMath.exp(-87))   // clamped, never NaN or garbage
        XCTAssertEqual(FastMath.exp(0), 1)
    }

    func testL2NormalizeAndEmbedding() {
        let x = Tensor(shape: [2, 2], data: [3, 4, 0, 2])
        XCTAssertEqual(Ops.l2NormalizeRows(x).data, [0.6, 0.8, 0, 1])
        let table = Tensor(shape: [3, 2], data: [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(Ops.embedding([2, 0, 2], table: table).data, [4, 5, 0, 1, 4, 5])
    }

    func testThreadsSetting() {
        let before = BLAS.threads
        BLAS.setThreads(1)
        XCTAssertEqual(BLAS.threads, 1)
        BLAS.setThreads(before)
        print("OpenBLAS core: \(BLAS.coreName), threads \(BLAS.threads)")
    }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
}
