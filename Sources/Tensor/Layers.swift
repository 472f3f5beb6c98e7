// torch.nn building blocks loaded from checkpoint scopes. Each checks its parameter shapes at load
// time, so a model either builds completely or fails naming the offending tensor.

public struct Linear: Sendable {
    /// Where an fp32 layer keeps its weight.
    public enum WeightLayout: Sendable {
        /// [out, in] as nn.Linear stores it, read in place from the checkpoint's mapping and
        /// multiplied as x · Wᵀ; what the decoder's rows kernel needs.
        case asStored
        /// An [in, out] copy made at load, multiplied without transposing (x · W, through oneDNN's
        /// sgemm like every fp32 product). At few rows that runs 1.3–1.9× OpenBLAS's transposed
        /// product on one thread (50 rows, k 768: 96–108 against 76–78 GF/s; k 3072: 95–104
        /// against 54–56), because nothing packs the weights per call; from ~500 rows on they are
        /// level. The copy
        /// is fresh pages at load, and the layer no longer reads the mapping in place, so only
        /// CLIP (50 rows an image, ~10 a text) takes it. BLIP's text encoder was tried too (7
        /// texts, 151 rows: 19.5–22.4 → 24.8–25.8 pairs/s), but in the end-to-end job the
        /// caption stage that runs after such a load came out 3.3–4.0 s slower, with its
        /// activations faulting in fresh pages (cause not found), more than the filter gained.
        case inOut
    }

    enum Storage: Sendable {
        case fp32(WeightMatrix)
        /// [in, out] row-major.
        case fp32InOut([Float], outFeatures: Int)
        case bf16(BF16Matrix)
    }

    let storage: Storage
    public let bias: Tensor?

    /// Loads `weight` [out, in] and `bias` [out], in the builder's precision: in fp32 the weight is
    /// read in place from the checkpoint's mapping (WeightMatrix.swift); in bf16 it is rounded
    /// straight from the mapping, whose pages are then dropped, so only the rounded values stay
    /// resident and no fp32 copy is ever made (each copy is fresh pages, the slow part of a load).
    public init(_ vb: VarBuilder, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        // The weight first, so that a layer missing both is reported by its weight.
        let w = try vb.weights("weight", shape: [outFeatures, inFeatures])
        let b = bias ? try vb.tensor("bias", shape: [outFeatures]) : nil
        if vb.precision == .fp32 && vb.layout == .inOut {
            self.init(storage: .fp32InOut(Ops.transposed([w]), outFeatures: outFeatures), bias: b)
            w.releaseResidentPages()
            return
        }
        try self.init(weight: w, bias: b, precision: vb.precision)
        if vb.precision == .bf16 { w.releaseResidentPages() }
    }

    /// One layer computing several checkpoint layers over the same input side by side (q, k and v
    /// projections): their weights stacked as rows [Σ out, in] (copied from the mapping in fp32,
    /// in the scopes' layout; rounded from it in bf16), their biases likewise.
    public init(stacking scopes: [VarBuilder], inFeatures: Int, outFeatures: Int, precision: Precision) throws {
        var parts: [WeightMatrix] = [], b: [Float] = []
        for vb in scopes {
            parts.append(try vb.weights("weight", shape: [outFeatures, inFeatures]))
            b += try vb.tensor("bias", shape: [outFeatures]).data
        }
        let rows = scopes.count * outFeatures
        let bias = Tensor(shape: [rows], data: b)
        switch precision {
        case .fp32 where scopes.first?.layout == .inOut:
            self.init(storage: .fp32InOut(Ops.transposed(parts), outFeatures: rows), bias: bias)
        case .fp32:
            var w: [Float] = []
            w.reserveCapacity(rows * inFeatures)
            for p in parts { p.withUnsafeFloats { w.append(contentsOf: UnsafeBufferPointer(start: $0, count: p.count)) } }
            self.init(weight: Tensor(shape: [rows, inFeatures], data: w), bias: bias)
        case .bf16:
            _ = try OneDNN.matmul(k: inFeatures, n: rows, bias: true)
            self.init(storage: .bf16(BF16Matrix(stacking: parts)), bias: bias)
        }
        for p in parts { p.releaseResidentPages() }
    }

    private init(storage: Storage, bias: Tensor?) {
        self.storage = storage
        self.bias = bias
    }

    /// An fp32 layer keeping `weight` [out, in] as an [in, out] copy (WeightLayout.inOut).
    public init(transposing weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "linear: weight must be 2-D, got \(weight.shape)")
        self.init(storage: .fp32InOut(Ops.transposed([WeightMatrix(weight)]), outFeatures: weight.shape[0]), bias: bias)
    }

    public init(weight: Tensor, bias: Tensor?) {
        self.init(weight: WeightMatrix(weight), bias: bias)
    }

    public init(weight: WeightMatrix, bias: Tensor?) {
        precondition(weight.rank == 2, "linear: weight must be 2-D, got \(weight.shape)")
        storage = .fp32(weight)
        self.bias = bias
    }

    /// A layer from tensors already in hand (fused projections, tied decoders). In bf16 only the
    /// rounded copy is kept and the product's primitive is made now, so a host oneDNN cannot serve
    /// fails at load; the bias stays fp32 (it is added to the fp32 accumulator).
    public init(weight: Tensor, bias: Tensor?, precision: Precision) throws {
        try self.init(weight: WeightMatrix(weight), bias: bias, precision: precision)
    }

    public init(weight: WeightMatrix, bias: Tensor?, precision: Precision) throws {
        precondition(weight.rank == 2, "linear: weight must be 2-D, got \(weight.shape)")
        switch precision {
        case .fp32:
            storage = .fp32(weight)
        case .bf16:
            _ = try OneDNN.matmul(k: weight.shape[1], n: weight.shape[0], bias: bias != nil)
            storage = .bf16(BF16Matrix(weight))
        }
        self.bias = bias
    }

    public var precision: Precision {
        if case .bf16 = storage { return .bf16 }
        return .fp32
    }

    /// Where the fp32 weight is kept (bf16 layers: `.asStored`).
    public var layout: WeightLayout {
        if case .fp32InOut = storage { return .inOut }
        return .asStored
    }

    /// The weight [out, in] in fp32 (in bf16, the rounded values widened; [in, out] transposed back:
    /// copies).
    public var weight: Tensor {
        switch storage {
        case let .fp32(w): return w.tensor
        case let .fp32InOut(w, n):
            let k = w.count / max(n, 1)
            return Tensor(shape: [n, k], data: Ops.transposed([WeightMatrix(Tensor(shape: [k, n], data: w))]))
        case let .bf16(w): return w.widened
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch storage {
        case let .fp32(w):
            return Ops.linear(x, weight: w, bias: bias)
        case let .fp32InOut(w, n):
            return Ops.linearInOut(x, weight: w, outFeatures: n, bias: bias)
        case let .bf16(w):
            precondition(x.lastDim == w.columns, "linear: input features \(x.lastDim) != weight in \(w.columns)")
            var shape = x.shape
            shape[shape.count - 1] = w.rows
            if x.rows == 0 { return Tensor.zeros(shape) }
            do {
                return try OneDNN.linear(x, weight: w, bias: bias, shape: shape)
            } catch {
                // Shapes were checked above and this shape's primitive was made at load, so a failure
                // here is a fault of the environment (memory), not of the input.
                fatalError("\(error)")
            }
        }
    }
}

extension Linear {
    /// The layer for a decoding step's rows (a batch's beams or samples, a prompt's prefill), through
    /// the kernels whose every output is independent of the rows that come with it
    /// (SmallRowsLinear.swift): fp32 Ops.decodingLinear, bf16 the AVX512-BF16 kernel (oneDNN where
    /// the CPU lacks it, and there a row's bits may depend on its neighbours).
    public func decodingStep(_ x: Tensor) -> Tensor {
        switch storage {
        case let .fp32(w):
            return Ops.decodingLinear(x, weight: w, bias: bias)
        case .fp32InOut:
            // Not a decoder's layer (loaders keep those as stored): rows may depend on neighbours.
            return self(x)
        case let .bf16(w):
            return Ops.hasBF16DotProduct ? Ops.bf16RowsLinear(x, weight: w, bias: bias) : self(x)
        }
    }
}

public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ vb: VarBuilder, dim: Int, eps: Float) throws {
        weight = try vb.tensor("weight", shape: [dim])
        bias = try vb.tensor("bias", shape: [dim])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Ops.layerNorm(x, weight: weight, bias: bias, eps: eps)
    }
}

public struct Embedding: Sendable {
    /// [count, dim], read in place from the checkpoint where it is stored as F32 (the vocabulary
    /// tables are the largest single tensors, and a tied decoder reads the same one).
    public let weight: WeightMatrix

    public init(_ vb: VarBuilder, count: Int, dim: Int) throws {
        weight = try vb.weights("weight", shape: [count, dim])
    }

    public func callAsFunction(_ ids: [Int]) -> Tensor {
        Ops.embedding(ids, table: weight)
    }
}
