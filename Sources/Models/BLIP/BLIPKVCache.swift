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
    /// Rows the buffers above have room for (select may shrink `rows` without reallocating).
    private var allocatedRows: Int
    /// A second set of buffers that reordering gathers into before the two sets swap, so a beam
    /// step moves only the filled positions and never maps fresh pages.
    private var spareKeys: [UnsafeMutablePointer<Float>] = []
    private var spareValues: [UnsafeMutablePointer<Float>] = []
    private var spareRows = 0

    init(layers: Int, rows: Int, capacity: Int, dim: Int) {
        self.layers = layers
        self.rows = rows
        self.capacity = capacity
        self.dim = dim
        allocatedRows = rows
        keys = Self.allocate(layers: layers, floats: rows * capacity * dim)
        values = Self.allocate(layers: layers, floats: rows * capacity * dim)
    }

    private static func allocate(layers: Int, floats: Int) -> [UnsafeMutablePointer<Float>] {
        (0..<layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: max(floats, 1)) }
    }

    deinit {
        for p in keys + values + spareKeys + spareValues { p.deallocate() }
    }

    func keyRow(_ layer: Int, _ row: Int) -> UnsafeMutablePointer<Float> { keys[layer] + row * capacity * dim }
    func valueRow(_ layer: Int, _ row: Int) -> UnsafeMutablePointer<Float> { values[layer] + row * capacity * dim }

    /// Row r of the result is row `source[r]` of this cache (beam reordering, dropping finished
    /// sequences, or repeating a shared prompt for every beam/sample). Only filled positions move.
    func select(_ source: [Int]) {
        precondition(source.allSatisfy { $0 >= 0 && $0 < rows }, "cache select: rows \(source) of \(rows)")
        let n = length * dim, stride = capacity * dim
        // Strictly increasing sources (finished rows leaving) compact in place: row r is written
        // only after every row that still has to be read from at or below it.
        if source.count <= allocatedRows, zip(source, source.dropFirst()).allSatisfy({ $0 < $1 }) {
            for (r, s) in source.enumerated() where r != s {
                for l in 0..<layers {
                    (keys[l] + r * stride).update(from: keys[l] + s * stride, count: n)
                    (values[l] + r * stride).update(from: values[l] + s * stride, count: n)
                }
            }
            rows = source.count
            return
        }
        if spareRows < source.count {
            for p in spareKeys + spareValues { p.deallocate() }
            spareKeys = Self.allocate(layers: layers, floats: source.count * stride)
            spareValues = Self.allocate(layers: layers, floats: source.count * stride)
            spareRows = source.count
        }
        for l in 0..<layers {
            for (r, s) in source.enumerated() {
                (spareKeys[l] + r * stride).update(from: keys[l] + s * stride, count: n)
                (spareValues[l] + r * stride).update(from: values[l] + s * stride, count: n)
            }
        }
        swap(&keys, &spareKeys)
        swap(&values, &spareValues)
        swap(&allocatedRows, &spareRows)
        rows = source.count
    }
}
