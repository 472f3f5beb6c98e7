// torch.nn building blocks loaded from checkpoint scopes. Each checks its parameter shapes at load
// time, so a model either builds completely or fails naming the offending tensor.

public struct Linear: Sendable {
    public let weight: Tensor   // [out, in]
    public let bias: Tensor?

    public init(_ vb: VarBuilder, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        weight = try vb.tensor("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try vb.tensor("bias", shape: [outFeatures]) : nil
    }

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Ops.linear(x, weight: weight, bias: bias)
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
    public let weight: Tensor   // [count, dim]

    public init(_ vb: VarBuilder, count: Int, dim: Int) throws {
        weight = try vb.tensor("weight", shape: [count, dim])
    }

    public func callAsFunction(_ ids: [Int]) -> Tensor {
        Ops.embedding(ids, table: weight)
    }
}
