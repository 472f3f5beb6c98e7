// Port of transformers' modeling_clip.py CLIPTextEmbeddings and CLIPTextTransformer (the body of
// CLIPTextModel): token + position embeddings, causal self-attention with padding mask,
// final_layer_norm, and pooling at the end-of-text token.
import Tensor

struct CLIPTextEmbeddings: Sendable {
    let tokenEmbedding: Embedding
    let positionEmbedding: Embedding

    init(_ vb: VarBuilder, config: CLIPTextConfig) throws {
        tokenEmbedding = try Embedding(vb.scope("token_embedding"), count: config.vocabSize, dim: config.hiddenSize)
        positionEmbedding = try Embedding(vb.scope("position_embedding"), count: config.maxPositionEmbeddings,
                                          dim: config.hiddenSize)
    }

    /// ids: [B, seq] flattened row-major.
    func callAsFunction(_ ids: [Int], batch: Int, seq: Int) -> Tensor {
        var h = tokenEmbedding(ids)
        let positions = positionEmbedding((0..<batch).flatMap { _ in 0..<seq })
        Ops.addInPlace(&h, positions)
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

    /// pooler_output [B, hidden] for right-padded id sequences. Padding never influences real
    /// tokens (causal mask plus key-padding mask) and pooling reads the unpadded ids, so the
    /// result equals transformers with any pad id.
    func callAsFunction(_ sequences: [[Int]]) -> Tensor {
        let b = sequences.count, d = config.hiddenSize
        let seq = sequences.map(\.count).max() ?? 0
        precondition(seq >= 1 && seq <= config.maxPositionEmbeddings)
        var ids: [Int] = []
        ids.reserveCapacity(b * seq)
        for s in sequences { ids += s + Array(repeating: s.last!, count: seq - s.count) }
        var h = embeddings(ids, batch: b, seq: seq)
        h = encoder(h, batch: b, seq: seq, mask: AttentionMask(causal: true, keyLengths: sequences.map(\.count)))
        // final_layer_norm is row-wise, so normalising only the pooled rows gives the same values.
        let pooled = Tensor.uninitialized([b, d]) { out in
            h.data.withUnsafeBufferPointer { src in
                for (n, s) in sequences.enumerated() {
                    let t = poolIndex(s)
                    (out.baseAddress! + n * d).update(from: src.baseAddress! + (n * seq + t) * d, count: d)
                }
            }
        }
        return finalLayerNorm(pooled)
    }
}
