// Port of transformers' modeling_clip.py CLIPVisionTransformer on the shared VisionTransformer:
// class embedding, pre_layrnorm, encoder, then pooler_output = post_layernorm of the class token.
import Tensor

extension VisionTransformerConfiguration {
    static func clip(_ c: CLIPVisionConfig) throws -> VisionTransformerConfiguration {
        VisionTransformerConfiguration(
            encoder: TransformerEncoderConfiguration(
                hiddenSize: c.hiddenSize, intermediateSize: c.intermediateSize, numHiddenLayers: c.numHiddenLayers,
                numAttentionHeads: c.numAttentionHeads, activation: try Activation(name: c.hiddenAct),
                layerNormEps: c.layerNormEps, attentionWeights: .separate),
            imageSize: c.imageSize, patchSize: c.patchSize, numChannels: c.numChannels,
            patchEmbeddingBias: false, embeddingsAsParameters: false, preLayernorm: true)
    }
}

struct CLIPVisionTransformer: Sendable {
    let vit: VisionTransformer

    init(_ vb: VarBuilder, config: CLIPVisionConfig) throws {
        vit = try VisionTransformer(vb, config: try .clip(config))
    }

    /// pooler_output: post_layernorm of the class token, [B, hidden].
    func callAsFunction(_ pixelValues: Tensor) throws -> Tensor {
        vit.postLayernorm(try vit.encodeClassTokens(pixelValues))
    }
}
