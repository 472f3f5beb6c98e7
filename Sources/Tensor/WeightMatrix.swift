// A model's fp32 weights, read in place from the checkpoint's file mapping where the file allows,
// as transformers does with safetensors. Copying 2.4 GB of full-size BLIP + CLIP weights into fresh
// anonymous pages was most of a run's start: on these VMs a first-touched page costs a fault in the
// guest and often one in the host (free pages go back to it), 1.4–9.2 s for the same three models
// from one run to the next. A file's pages in the page cache are mapped, not copied, and every
// later run finds the file there.

/// Read-only fp32 values with a shape: an nn.Linear weight [out, in], an embedding table
/// [count, dim], a conv kernel viewed as a matrix. Either an array, or a range of a checkpoint
/// file's mapping that the matrix keeps alive.
public struct WeightMatrix: Sendable {
    public let shape: [Int]
    private let storage: Storage

    private enum Storage: Sendable {
        case array([Float])
        /// `byteOffset` from the start of the mapped file; 4-byte aligned (SafeTensors checks).
        case mapped(SafeTensors, byteOffset: Int)
    }

    /// Shares the tensor's buffer (no copy).
    public init(_ t: Tensor) {
        shape = t.shape
        storage = .array(t.data)
    }

    init(mapping file: SafeTensors, byteOffset: Int, shape: [Int]) {
        self.shape = shape
        storage = .mapped(file, byteOffset: byteOffset)
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    /// The leading dimension; every other one is folded into `columns`.
    public var rows: Int { shape.first ?? 1 }
    public var columns: Int { shape.dropFirst().reduce(1, *) }

    /// Whether the values are read from the checkpoint file's mapping.
    public var isMapped: Bool {
        if case .mapped = storage { return true }
        return false
    }

    /// The same values under another shape of the same count (no copy).
    public func reshaped(_ newShape: [Int]) -> WeightMatrix {
        precondition(newShape.reduce(1, *) == count, "reshape \(shape) to \(newShape)")
        switch storage {
        case let .array(a): return WeightMatrix(Tensor(shape: newShape, data: a))
        case let .mapped(f, o): return WeightMatrix(mapping: f, byteOffset: o, shape: newShape)
        }
    }

    public func withUnsafeFloats<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        switch storage {
        case let .array(a):
            return try a.withUnsafeBufferPointer { try body($0.baseAddress!) }
        case let .mapped(f, o):
            return try withExtendedLifetime(f) { try body(f.floats(atByteOffset: o)) }
        }
    }

    /// Drops the file pages under a mapped matrix, for callers that keep only a converted or
    /// stacked copy (bf16, fused q/k/v): a run's peak is while its last model loads, and those
    /// pages would stay resident next to the copy. They come back from the file if read again.
    func releaseResidentPages() {
        if case let .mapped(f, o) = storage {
            f.release(UnsafeRawPointer(f.floats(atByteOffset: o)), byteCount: count * MemoryLayout<Float>.size)
        }
    }

    /// The values as a Tensor: the array itself, or a copy of the mapped range.
    public var tensor: Tensor {
        switch storage {
        case let .array(a):
            return Tensor(shape: shape, data: a)
        case .mapped:
            return withUnsafeFloats { p in
                Tensor.uninitialized(shape) { $0.baseAddress!.update(from: p, count: count) }
            }
        }
    }
}
