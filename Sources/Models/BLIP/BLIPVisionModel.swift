// Port of transformers' modeling_blip.py BlipVisionModel on the shared VisionTransformer: class
// embedding, encoder (fused qkv attention), then last_hidden_state = post_layernorm of every token.
import Tensor

extension VisionTransformerConfiguration {
    static func blip(_ c: BLIPVisionConfig) throws -> VisionTransformerConfiguration {
        VisionTransformerConfiguration(
            encoder: TransformerEncoderConfiguration(
                hiddenSize: c.hiddenSize, intermediateSize: c.intermediateSize, numHiddenLayers: c.numHiddenLayers,
                numAttentionHeads: c.numAttentionHeads, activation: try Activation(name: c.hiddenAct),
                layerNormEps: c.layerNormEps, attentionWeights: .fused),
            imageSize: c.imageSize, patchSize: c.patchSize, numChannels: 3,
            patchEmbeddingBias: true, embeddingsAsParameters: true, preLayernorm: false)
    }
}

struct BLIPVisionModel: Sendable {
    let vit: VisionTransformer

    var tokens: Int { vit.tokens }

    init(_ vb: VarBuilder, config: BLIPVisionConfig) throws {
        vit = try VisionTransformer(vb, config: try .blip(config))
    }

    /// last_hidden_state (post_layernorm applied), [B·(patches+1), hidden]. This is what the text
    /// decoder and the ITM/ITC heads read; pooler_output (a second post_layernorm of the class
    /// token) is used by neither.
    func callAsFunction(_ pixelValues: Tensor) throws -> Tensor {
        vit.postLayernorm(try vit.encode(pixelValues))
    }
}
