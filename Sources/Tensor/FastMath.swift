// A vectorisable exp for the activation and softmax loops, which call it tens of millions of
// times per batch; glibc's scalar expf there costs more than 10% of a ViT-B/32 forward.
// Cephes' expf: range reduction by ln 2 split in two constants, degree-5 minimax polynomial,
// scaling by 2ⁿ through the exponent bits. Max relative error ≈ 1e-7 over [-87, 88].
// Written as straight-line scalar code with no calls (rounding by the 1.5·2²³ trick, since
// baseline x86-64 has no vector round instruction) so that LLVM vectorises the loops using it.

public enum FastMath {
    /// @inlinable so model modules' loops inline and vectorise it too.
    @inlinable @inline(__always)
    public static func exp(_ x0: Float) -> Float {
        let x1 = x0 < -87 ? -87 : (x0 > 88.3762626647949 ? 88.3762626647949 : x0)
        // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
        let shifted = x1 * 1.44269504088896341 + 12582912.0
        let fx = shifted - 12582912.0
        let n = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        var x = x1 - fx * 0.693359375
        x = x + fx * 2.12194440e-4
        let z = x * x
        var y: Float = 1.9875691500e-4
        y = y * x + 1.3981999507e-3
        y = y * x + 8.3334519073e-3
        y = y * x + 4.1665795894e-2
        y = y * x + 1.6666665459e-1
        y = y * x + 5.0000001201e-1
        y = y * z + x + 1
        return y * Float(bitPattern: UInt32(bitPattern: (n &+ 127) &<< 23))
    }
}
