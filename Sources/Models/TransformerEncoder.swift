// Port of transformers' modeling_clip.py CLIPAttention, CLIPMLP, CLIPEncoderLayer and CLIPEncoder,
// and of modeling_blip.py BlipAttention, BlipMLP, BlipEncoderLayer and BlipEncoder: the same
// pre-LayerNorm transformer layer, which serves CLIP's text and vision towers and BLIP's vision
// tower. What differs between them is configuration: the activation, and how the checkpoint stores
// the attention projections. Hidden states are [batch·seq, hidden].
import Tensor

struct TransformerEncoderConfiguration: Sendable {
    /// How a checkpoint names the attention projections.
    enum AttentionWeights: Sendable {
        /// CLIPAttention: q_proj, k_proj, v_proj and out_proj.
        case separate
        /// BlipAttention: qkv, one Linear whose output is [Q | K | V] (the reshape(bsz, len, 3,
        /// heads, head_dim) layout), and projection.
        case fused
    }

    var hiddenSize: Int
    var intermediateSize: Int
    var numHiddenLayers: Int
    var numAttentionHeads: Int
    var activation: Activation
    var layerNormEps: Float
    var attentionWeights: AttentionWeights
}

struct EncoderAttention: Sendable {
    let numHeads: Int
    /// The query, key and value projections as one [3·hidden, hidden] Linear, whichever way the
    /// checkpoint stores them: one large gemm instead of three, and the attention kernel reads
    /// each head in place from its output.
    let qkv: Linear
    let outProj: Linear

    init(_ vb: VarBuilder, hidden: Int, heads: Int, weights: TransformerEncoderConfiguration.AttentionWeights) throws {
        guard heads > 0, hidden % heads == 0 else {
            throw CheckpointError.invalidConfig(file: "config.json", detail: "hidden_size \(hidden) is not divisible by num_attention_heads \(heads)")
        }
        numHeads = heads
        switch weights {
        case .separate:
            qkv = try Linear(stacking: ["q_proj", "k_proj", "v_proj"].map(vb.scope), inFeatures: hidden, outFeatures: hidden,
                             precision: vb.precision)
            outProj = try Linear(vb.scope("out_proj"), inFeatures: hidden, outFeatures: hidden)
        case .fused:
            qkv = try Linear(vb.scope("qkv"), inFeatures: hidden, outFeatures: 3 * hidden)
            outProj = try Linear(vb.scope("projection"), inFeatures: hidden, outFeatures: hidden)
        }
    }

    func callAsFunction(_ hiddenStates: Tensor, batch: Int, seq: Int, mask: AttentionMask) -> Tensor {
        let projected = qkv(hiddenStates)
        let context = Ops.attention(qkv: projected, batch: batch, seq: seq, heads: numHeads, mask: mask)
        return outProj(context)
    }

    /// Self-attention over packed sequences (`segments`: each sequence's rows, back to back, no
    /// padding), each sequence attending to its own tokens (causally with `causal`). With
    /// `queryRows` (one row per sequence) only those rows come out, [segments, hidden]: every row
    /// still gives its key and value, but no other row's query is used.
    func callAsFunction(_ hiddenStates: Tensor, segments: [Range<Int>], causal: Bool, queryRows: [Int]? = nil) -> Tensor {
        outProj(packedSelfAttention(qkv(hiddenStates), segments: segments, heads: numHeads, causal: causal, queryRows: queryRows))
    }
}

struct EncoderMLP: Sendable {
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

struct EncoderLayer: Sendable {
    let selfAttn: EncoderAttention
    let layerNorm1: LayerNorm
    let mlp: EncoderMLP
    let layerNorm2: LayerNorm

    init(_ vb: VarBuilder, config c: TransformerEncoderConfiguration) throws {
        selfAttn = try EncoderAttention(vb.scope("self_attn"), hidden: c.hiddenSize, heads: c.numAttentionHeads,
                                        weights: c.attentionWeights)
        layerNorm1 = try LayerNorm(vb.scope("layer_norm1"), dim: c.hiddenSize, eps: c.layerNormEps)
        mlp = try EncoderMLP(vb.scope("mlp"), hidden: c.hiddenSize, intermediate: c.intermediateSize, activation: c.activation)
        layerNorm2 = try LayerNorm(vb.scope("layer_norm2"), dim: c.hiddenSize, eps: c.layerNormEps)
    }

    func callAsFunction(_ hiddenStates: Tensor, batch: Int, seq: Int, mask: AttentionMask) -> Tensor {
        forward(hiddenStates, residual: hiddenStates) { selfAttn($0, batch: batch, seq: seq, mask: mask) }
    }

    /// The same layer over packed sequences (EncoderAttention's packed form); with `queryRows`
    /// it returns only those rows (one per sequence), which is all a pooled output reads of the
    /// last layer: no row depends on another there except through the keys and values.
    func callAsFunction(_ hiddenStates: Tensor, segments: [Range<Int>], causal: Bool, queryRows: [Int]? = nil) -> Tensor {
        forward(hiddenStates, residual: queryRows.map { gatherRows(hiddenStates, $0) } ?? hiddenStates) {
            selfAttn($0, segments: segments, causal: causal, queryRows: queryRows)
        }
    }

    /// x + attention(layer_norm1(x)), then h + mlp(layer_norm2(h)); `residual` is x at the rows
    /// the attention returns.
    private func forward(_ hiddenStates: Tensor, residual: Tensor, attention: (Tensor) -> Tensor) -> Tensor {
        var h = attention(layerNorm1(hiddenStates))
        Ops.addInPlace(&h, residual)
        var m = mlp(layerNorm2(h))
        Ops.addInPlace(&m, h)
        return m
    }
}

struct TransformerEncoder: Sendable {
    let layers: [EncoderLayer]

    init(_ vb: VarBuilder, config: TransformerEncoderConfiguration) throws {
        layers = try (0..<config.numHiddenLayers).map { try EncoderLayer(vb.scope("layers").scope($0), config: config) }
    }

    func callAsFunction(_ inputsEmbeds: Tensor, batch: Int, seq: Int, mask: AttentionMask) -> Tensor {
        var h = inputsEmbeds
        for layer in layers { h = layer(h, batch: batch, seq: seq, mask: mask) }
        return h
    }
}
