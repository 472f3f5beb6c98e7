import Foundation
import Tensor
import XCTest

/// `precision: bf16`: the rounding (torch's round-to-nearest-even) and oneDNN's products, against a
/// double-precision evaluation over the bf16-rounded operands, on every split `Linear` uses.
final class BF16Tests: XCTestCase {
    var g = SplitMix64(seed: 11)
    func random(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(g.nextDouble() * 4 - 2) })
    }

    var threadsBefore = 1
    override func setUp() { threadsBefore = BLAS.threads }
    override func tearDown() { BLAS.setThreads(threadsBefore) }

    func testRoundingIsNearestEven() {
        // 1 + 2^-8 is halfway between two bf16 values (1 and 1 + 2^-7): ties go to the even one.
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x3F80_8000)), 0x3F80)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x3F81_8000)), 0x3F82)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x3F80_7FFF)), 0x3F80)
        XCTAssertEqual(BF16.round(-2.5), 0xC020)
        XCTAssertEqual(BF16.round(.infinity), 0x7F80)
        XCTAssertTrue(BF16.widen(BF16.round(.nan)).isNaN)
        XCTAssertEqual(BF16.widen(BF16.round(3.0)), 3.0)
        // The 16-lane loop and the scalar tail agree with the scalar rounding everywhere.
        let x = random([1, 16 * 9 + 5]).data + [Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), 65504, -1e-30]
        var out = [UInt16](repeating: 0, count: x.count)
        BF16.round(x, into: &out)
        XCTAssertEqual(out, x.map { BF16.round($0) })
    }

    /// Row counts on both sides of the row/column split, feature counts that leave partial column
    /// blocks, with and without bias, on one and two threads.
    func testLinearMatchesDoubleOverRoundedOperands() throws {
        var worst: Double = 0
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            for (k, n) in [(13, 37), (96, 200), (64, 130)] {
                let w = random([n, k]), b = random([n])
                let wr = w.data.map { BF16.widen(BF16.round($0)) }
                for m in [1, 3, 8, 31, 32, 33, 70] {
                    let x = random([m, k])
                    let xr = x.data.map { BF16.widen(BF16.round($0)) }
                    for bias in [b, nil] {
                        let layer = try Linear(weight: w, bias: bias, precision: .bf16)
                        XCTAssertEqual(layer.precision, .bf16)
                        let y = layer(x)
                        XCTAssertEqual(y.shape, [m, n])
                        let caseWorst = linearRelativeError(y, x: xr, w: wr, bias: bias, m: m, k: k, n: n)
                        if caseWorst > 1e-6 { print("bf16 case threads \(threads) m \(m) k \(k) n \(n) bias \(bias != nil): \(caseWorst)") }
                        worst = max(worst, caseWorst)
                    }
                }
            }
        }
        // The products of two bf16 values are exact in fp32; what is left is fp32 summation.
        print("bf16 linear (oneDNN \(OneDNN.isa)) max |Δ| / Σ|x·w| against double over the rounded operands: \(worst)")
        XCTAssertLessThan(worst, 1e-6)
    }

    /// A decoding step's rows in bf16 (`decodingStep`: the AVX512-BF16 kernel, oneDNN where the
    /// CPU lacks it) against double precision over the rounded operands, on one thread and two; k
    /// below, at and above the kernel's 32-value chunks, row counts around its blocks of six. The
    /// kernel gives each row the same bits on one thread and two, and alone or with other rows.
    func testDecodingStepMatchesDoubleOverRoundedOperands() throws {
        let before = BLAS.threads
        defer { BLAS.setThreads(before) }
        var worst: Double = 0
        for (k, n) in [(13, 37), (64, 130), (77, 302)] {
            let w = random([n, k]), b = random([n])
            let wr = w.data.map { BF16.widen(BF16.round($0)) }
            for m in [1, 2, 3, 4, 5, 6, 7, 13] {
                let x = random([m, k])
                let xr = x.data.map { BF16.widen(BF16.round($0)) }
                for bias in [b, nil] {
                    let layer = try Linear(weight: w, bias: bias, precision: .bf16)
                    var outputs: [[UInt32]] = []
                    for threads in [1, 2] {
                        BLAS.setThreads(threads)
                        let y = layer.decodingStep(x)
                        outputs.append(y.data.map(\.bitPattern))
                        worst = max(worst, linearRelativeError(y, x: xr, w: wr, bias: bias, m: m, k: k, n: n))
                    }
                    guard Ops.hasBF16DotProduct else { continue }
                    XCTAssertEqual(outputs[0], outputs[1], "k \(k) n \(n) m \(m): one thread against two")
                    for r in 0..<m {
                        let alone = layer.decodingStep(Tensor(shape: [1, k], data: Array(x.data[(r * k)..<((r + 1) * k)])))
                        XCTAssertEqual(alone.data.map(\.bitPattern), Array(outputs[1][(r * n)..<((r + 1) * n)]), "k \(k) n \(n) m \(m): row \(r) alone")
                    }
                }
            }
        }
        print("bf16 decodingStep (AVX512-BF16 kernel: \(Ops.hasBF16DotProduct)) max |Δ| / Σ|x·w|: \(worst)")
        XCTAssertLessThan(worst, 1e-6)
    }

    func testThreeDimensionalInputKeepsLeadingShape() throws {
        let layer = try Linear(weight: random([5, 8]), bias: nil, precision: .bf16)
        XCTAssertEqual(layer(random([2, 3, 8])).shape, [2, 3, 5])
        XCTAssertEqual(layer(Tensor.zeros([0, 8])).shape, [0, 5])
        XCTAssertEqual(layer.weight.data, layer.weight.data.map { BF16.widen(BF16.round($0)) })
    }

    func testSplitsCoverTheProductOnce() {
        for (m, n, t) in [(1, 30524, 2), (8, 768, 2), (577, 3072, 2), (40, 100, 3), (5, 50, 4), (100, 7, 1)] {
            var covered = [Int](repeating: 0, count: m * n)
            for p in OneDNN.parts(m: m, n: n, threads: t) {
                for r in p.rows { for c in p.cols { covered[r * n + c] += 1 } }
            }
            XCTAssertEqual(Set(covered), [1], "\(m)×\(n) on \(t) threads")
        }
    }
}
