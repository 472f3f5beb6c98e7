// Port of transformers' modeling_clip.py CLIPAttention, CLIPMLP, CLIPEncoderLayer and
// CLIPEncoder (shared by the vision and text towers). Hidden states are [batch·seq, hidden].
import Tensor

struct CLIPAttention: Sendable {
    let numHeads: Int
    /// q_proj, k_proj and v_proj stacked into one [3·hidden, hidden] projection: one large gemm
    /// instead of three, and the attention kernel reads each head in place from its output.
    let qkv: Linear
    let outProj: Linear

    init(_ vb: VarBuilder, hidden: Int, heads: Int) throws {
        guard heads > 0, hidden % heads == 0 else {
            throw CLIPError.invalidConfig(file: "config.json", detail: "hidden_size \(hidden) is not divisible by num_attention_heads \(heads)")
        }
        numHeads = heads
        let q = try Linear(vb.scope("q_proj"), inFeatures: hidden, outFeatures: hidden)
        let k = try Linear(vb.scope("k_proj"), inFeatures: hidden, outFeatures: hidden)
        let v = try Linear(vb.scope("v_proj"), inFeatures: hidden, outFeatures: hidden)
        qkv = Linear(
            weight: Tensor(shape: [3 * hidden, hidden], data: q.weight.data + k.weight.data + v.weight.data),
            bias: Tensor(shape: [3 * hidden], data: q.bias!.data + k.bias!.data + v.bias!.data))
        outProj = try Linear(vb.scope("out_proj"), inFeatures: hidden, outFeatures: hidden)
    }

    func callAsFunction(_ hiddenStates: Tensor, batch: Int, seq: Int, mask: AttentionMask) -> Tensor {
        let projected = qkv(hiddenStates)
        let context = Ops.attention(qkv: projected, batch: batch, seq: seq, heads: numHeads, mask: mask)
        return outProj(context)
    }
}

struct CLIPMLP: Sendable {
    let activation: Activation
    let fc1: Linear
    let fc2: Linear

    init(_ vb: VarBuilder, hidden: Int, intermediate: Int, activation: Activation) throws {
        self.activation = activation
        fc1 = try Linear(vb.scope("fc1"), inFeatures: hidden, outFeatures: intermediate)
        fc2 = try Linear(vb.scope("fc2"), inFeatures: intermediate, outFeatures: hidden)
    }

    func callAsFunction(_ hiddenStates: Tensor) -> Tensor {
        var h = fc1(hiddenStates)
        activation.apply(&h)
        return fc2(h)
    }
}

struct CLIPEncoderLayer: Sendable {
    let selfAttn: CLIPAttention
    let layerNorm1: LayerNorm
    let mlp: CLIPMLP
    let layerNorm2: LayerNorm

    init(_ vb: VarBuilder, hidden: Int, intermediate: Int, heads: Int, activation: Activation, eps: Float) throws {
        selfAttn = try CLIPAttention(vb.scope("self_attn"), hidden: hidden, heads: heads)
        layerNorm1 = try LayerNorm(vb.scope("layer_norm1"), dim: hidden, eps: eps)
        mlp = try CLIPMLP(vb.scope("mlp"), hidden: hidden, intermediate: intermediate, activation: activation)
        layerNorm2 = try LayerNorm(vb.scope("layer_norm2"), dim: hidden, eps: eps)
    }

    func callAsFunction(_ hiddenStates: Tensor, batch: Int, seq: Int, mask: AttentionMask) -> Tensor {
        let residual = hiddenStates
        var h = layerNorm1(hiddenStates)
        h = selfAttn(h, batch: batch, seq: seq, mask: mask)
        Ops.addInPlace(&h, residual)

        let residual2 = h
        var m = layerNorm2(h)
        m = mlp(m)
        Ops.addInPlace(&m, residual2)
        return m
    }
}

struct CLIPEncoder: Sendable {
    let layers: [CLIPEncoderLayer]

    init(_ vb: VarBuilder, layers count: Int, hidden: Int, intermediate: Int, heads: Int,
         activation: Activation, eps: Float) throws {
        layers = try (0..<count).map {
            try CLIPEncoderLayer(vb.scope("layers").scope($0), hidden: hidden, intermediate: intermediate,
                                 heads: heads, activation: activation, eps: eps)
        }
    }

    func callAsFunction(_ inputsEmbeds: Tensor, batch: Int, seq: Int, mask: AttentionMask) -> Tensor {
        var h = inputsEmbeds
        for layer in layers { h = layer(h, batch: batch, seq: seq, mask: mask) }
        return h
    }
}
