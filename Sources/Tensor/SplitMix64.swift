// Steele, Lea and Flood's SplitMix64 (the JDK's SplittableRandom step and Vigna's splitmix64.c):
// one 64-bit state, a Weyl increment and a mixing function. Small, fast and the same on every
// machine, which is what seeded sampling, synthetic corpora and benchmark inputs need; it is not
// torch's generator, so samples are reproducible but not torch's.
public struct SplitMix64: Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// next() % n: uniform in 0..<n up to a modulo bias below n / 2⁶⁴.
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0, "nextInt(below:): n must be positive")
        return Int(next() % UInt64(n))
    }

    /// Index drawn with probability probs[i] (probs sum to 1 up to rounding; the last positive
    /// entry absorbs the remainder).
    public mutating func sample(_ probs: [Float]) -> Int {
        let u = nextDouble()
        var c: Double = 0
        var last = 0
        for (i, p) in probs.enumerated() where p > 0 {
            c += Double(p)
            last = i
            if u < c { return i }
        }
        return last
    }
}
