// transformers' DynamicCache as BLIP's text model uses it (modeling_blip_text.py's
// BlipTextSelfAttention appends each step's keys and values), laid out so that Ops.attention reads
// a row's keys and values in place.

/// Self-attention keys and values of `rows` sequences, `capacity` positions each, per layer:
/// transformers' DynamicCache, laid out [row][position][hidden] so a row's keys are one strided
/// matrix that gemm reads in place.
/// Not Sendable: one generation loop owns it; attention kernels only read it during a call.
final class BLIPKVCache {
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
