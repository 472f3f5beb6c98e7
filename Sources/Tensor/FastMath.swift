// Vectorised exp for the activation and softmax loops, which call it tens of millions of times
// per batch; glibc's scalar expf there costs more than 10% of a ViT-B/32 forward.
// Cephes' expf: range reduction by ln 2 split in two constants, degree-5 minimax polynomial,
// scaling by 2ⁿ through the exponent bits. Max relative error ≈ 2 ulp over [-87, 88].

public enum FastMath {
    public typealias V = SIMD8<Float>

    @inline(__always)
    public static func exp(_ x0: V) -> V {
        let x1 = x0.clamped(lowerBound: V(repeating: -87.0), upperBound: V(repeating: 88.3762626647949))
        let fx = (x1 * 1.44269504088896341).rounded(.toNearestOrEven)
        var x = x1 - fx * 0.693359375
        x = x + fx * 2.12194440e-4
        let z = x * x
        var y: V = V(repeating: 1.9875691500e-4)
        y = y * x + 1.3981999507e-3
        y = y * x + 8.3334519073e-3
        y = y * x + 4.1665795894e-2
        y = y * x + 1.6666665459e-1
        y = y * x + 5.0000001201e-1
        y = y * z + x + 1
        let n = SIMD8<Int32>(fx, rounding: .toNearestOrEven)
        let scale = unsafeBitCast((n &+ 127) &<< 23, to: V.self)
        return y * scale
    }

    /// Scalar entry point with exactly the vector path's rounding, for loop tails.
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        exp(V(repeating: x))[0]
    }

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }
}
