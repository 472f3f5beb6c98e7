// Port of transformers' modeling_clip.py CLIPTextEmbeddings and CLIPTextTransformer (the body of
// CLIPTextModel): token + position embeddings, causal self-attention with padding mask (here:
// sequences packed without padding), final_layer_norm, and pooling at the end-of-text token.
import Tensor

struct CLIPTextEmbeddings: Sendable {
    let tokenEmbedding: Embedding
    let positionEmbedding: Embedding

    init(_ vb: VarBuilder, config: CLIPTextConfig) throws {
        tokenEmbedding = try Embedding(vb.scope("token_embedding"), count: config.vocabSize, dim: config.hiddenSize)
        positionEmbedding = try Embedding(vb.scope("position_embedding"), count: config.maxPositionEmbeddings,
                                          dim: config.hiddenSize)
    }

    /// Each token at its position within its own sequence.
    func callAsFunction(_ packed: PackedSequences) -> Tensor {
        var h = tokenEmbedding(packed.ids)
        Ops.addInPlace(&h, positionEmbedding(packed.positions))
        return h
    }
}

struct CLIPTextTransformer: Sendable {
    let config: CLIPTextConfig
    let embeddings: CLIPTextEmbeddings
    let encoder: TransformerEncoder
    let finalLayerNorm: LayerNorm

    init(_ vb: VarBuilder, config: CLIPTextConfig) throws {
        self.config = config
        embeddings = try CLIPTextEmbeddings(vb.scope("embeddings"), config: config)
        encoder = try TransformerEncoder(vb.scope("encoder"), config: TransformerEncoderConfiguration(
            hiddenSize: config.hiddenSize, intermediateSize: config.intermediateSize,
            numHiddenLayers: config.numHiddenLayers, numAttentionHeads: config.numAttentionHeads,
            activation: try Activation(name: config.hiddenAct), layerNormEps: config.layerNormEps,
            attentionWeights: .separate))
        finalLayerNorm = try LayerNorm(vb.scope("final_layer_norm"), dim: config.hiddenSize, eps: config.layerNormEps)
    }

    /// Index of the pooled token, exactly as CLIPTextTransformer.forward chooses it.
    func poolIndex(_ ids: [Int]) -> Int {
        if config.eosTokenId == 2 {
            // Legacy configs (before transformers PR #24773) carry eos_token_id 2 and pool at
            // argmax(input_ids): the end token has the highest id in OpenAI's vocabulary.
            // torch.argmax returns the first maximal index.
            var best = 0
            for (i, v) in ids.enumerated() where v > ids[best] { best = i }
            return best
        }
        // First end token; argmax of an all-false mask is 0.
        return ids.firstIndex(of: config.eosTokenId) ?? 0
    }

    /// pooler_output [B, hidden]. The sequences are packed back to back instead of padded: each
    /// token sees its own sequence's earlier tokens, exactly what transformers' causal plus padding
    /// masks leave visible in a padded batch, so padding rows (a batch's worth of them when lengths
    /// differ) are never computed. The last layer computes only the pooled rows (every token
    /// still gives its key and value); final_layer_norm is row-wise, so it is applied to those.
    func callAsFunction(_ sequences: [[Int]]) -> Tensor {
        precondition(sequences.allSatisfy { $0.count >= 1 && $0.count <= config.maxPositionEmbeddings })
        let packed = PackedSequences(sequences)
        var h = embeddings(packed)
        let pooled = zip(packed.ranges, sequences).map { $0.lowerBound + poolIndex($1) }
        for (l, layer) in encoder.layers.enumerated() {
            h = layer(h, segments: packed.ranges, causal: true, queryRows: l == encoder.layers.count - 1 ? pooled : nil)
        }
        return finalLayerNorm(h)
    }
}
