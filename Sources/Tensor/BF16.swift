// bfloat16 storage for `precision: bf16`: the top 16 bits of an fp32, rounded to nearest even as
// torch's `.to(torch.bfloat16)` does. Weights are rounded once at load; activations per product.

/// The number format a model stage's matrix products run in. Everything else (layer norms,
/// softmax, attention's products, embeddings) stays fp32 either way.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp32
    case bf16

    /// Appended to a model's id ("blip-base-0123456789ab+bf16"): texts and scores name the
    /// precision that made them, and a stage's key changes with it. fp32 ids stay as they were.
    public var idSuffix: String { self == .fp32 ? "" : "+" + rawValue }
}

public enum BF16 {
    /// fp32 → bf16 bits, round to nearest even; NaN stays a (quiet) NaN.
    @inline(__always)
    public static func round(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: u >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
    }

    @inline(__always)
    public static func widen(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// Rounds `source` into `out` (same count), 16 lanes at a time.
    public static func round(_ source: [Float], into out: inout [UInt16]) {
        precondition(out.count == source.count)
        source.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in round(s.baseAddress!, count: s.count, into: o.baseAddress!) }
        }
    }

    static func round(_ s: UnsafePointer<Float>, count n: Int, into o: UnsafeMutablePointer<UInt16>) {
        typealias V = SIMD16<UInt32>
        let vec = n & ~15
        let src = UnsafeRawPointer(s)
        var i = 0
        while i < vec {
            let u = src.loadUnaligned(fromByteOffset: i * 4, as: V.self)
            // NaNs cannot come out of a finite forward pass; the scalar tail and `round(_:)`
            // handle them, and a NaN here would still round to a NaN or an infinity.
            let r = (u &+ 0x7FFF &+ ((u &>> 16) & 1)) &>> 16
            UnsafeMutableRawPointer(o + i).storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: r), as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < n { o[i] = round(s[i]); i += 1 }
    }
}

/// A [rows, columns] row-major bf16 matrix (an nn.Linear weight, [out, in]). A class so that a
/// model's copies of a layer share one buffer.
public final class BF16Matrix: Sendable {
    public let rows: Int
    public let columns: Int
    private let bits: [UInt16]

    public convenience init(_ t: Tensor) {
        self.init(WeightMatrix(t))
    }

    public convenience init(_ w: WeightMatrix) {
        self.init(stacking: [w])
    }

    /// The matrices' rows one after another (fused q/k/v), each rounded straight from where it
    /// lies, a checkpoint's mapping included: no fp32 copy is made on the way.
    public init(stacking parts: [WeightMatrix]) {
        precondition(!parts.isEmpty && parts.allSatisfy { $0.rank == 2 && $0.columns == parts[0].columns },
                     "BF16Matrix: 2-D matrices of one width, got \(parts.map(\.shape))")
        rows = parts.reduce(0) { $0 + $1.rows }
        columns = parts[0].columns
        let count = rows * columns
        bits = [UInt16](unsafeUninitializedCapacity: count) { b, n in
            var at = 0
            for p in parts where p.count > 0 {
                p.withUnsafeFloats { BF16.round($0, count: p.count, into: b.baseAddress! + at) }
                at += p.count
            }
            n = count
        }
    }

    /// The rounded values back in fp32 (for fusing layers and for tests).
    public var widened: Tensor {
        Tensor(shape: [rows, columns], data: bits.map(BF16.widen))
    }

    func withUnsafePointer<R>(_ body: (UnsafePointer<UInt16>) throws -> R) rethrows -> R {
        try bits.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
}
