// Mirrors transformers' configuration_blip.py (BlipTextConfig, BlipVisionConfig, BlipConfig): keys
// absent from config.json take the defaults those classes declare. Note that these defaults are not
// the hub checkpoints' values (blip-image-captioning-base has 12 text heads, the default is 8), which
// is why configs are always read from the checkpoint folder.
import Foundation

public typealias BLIPError = CheckpointError

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where K == AnyKey {
    func value<T: Decodable>(_ key: String, _ fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: AnyKey(key)) ?? fallback
    }
}

public struct BLIPTextConfig: Decodable, Sendable {
    public var vocabSize = 30524
    public var hiddenSize = 768
    public var encoderHiddenSize = 768
    public var intermediateSize = 3072
    public var projectionDim = 768
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 512
    public var hiddenAct = "gelu"
    public var layerNormEps: Float = 1e-12
    public var bosTokenId = 30522
    public var padTokenId = 0
    public var sepTokenId = 102
    public var isDecoder = true

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        let d = BLIPTextConfig()
        vocabSize = try c.value("vocab_size", d.vocabSize)
        hiddenSize = try c.value("hidden_size", d.hiddenSize)
        encoderHiddenSize = try c.value("encoder_hidden_size", d.encoderHiddenSize)
        intermediateSize = try c.value("intermediate_size", d.intermediateSize)
        projectionDim = try c.value("projection_dim", d.projectionDim)
        numHiddenLayers = try c.value("num_hidden_layers", d.numHiddenLayers)
        numAttentionHeads = try c.value("num_attention_heads", d.numAttentionHeads)
        maxPositionEmbeddings = try c.value("max_position_embeddings", d.maxPositionEmbeddings)
        hiddenAct = try c.value("hidden_act", d.hiddenAct)
        layerNormEps = try c.value("layer_norm_eps", d.layerNormEps)
        bosTokenId = try c.value("bos_token_id", d.bosTokenId)
        padTokenId = try c.value("pad_token_id", d.padTokenId)
        sepTokenId = try c.value("sep_token_id", d.sepTokenId)
        isDecoder = try c.value("is_decoder", d.isDecoder)
    }
}

public struct BLIPVisionConfig: Decodable, Sendable {
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var imageSize = 384
    public var patchSize = 16
    public var hiddenAct = "gelu"
    public var layerNormEps: Float = 1e-5

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        let d = BLIPVisionConfig()
        hiddenSize = try c.value("hidden_size", d.hiddenSize)
        intermediateSize = try c.value("intermediate_size", d.intermediateSize)
        numHiddenLayers = try c.value("num_hidden_layers", d.numHiddenLayers)
        numAttentionHeads = try c.value("num_attention_heads", d.numAttentionHeads)
        imageSize = try c.value("image_size", d.imageSize)
        patchSize = try c.value("patch_size", d.patchSize)
        hiddenAct = try c.value("hidden_act", d.hiddenAct)
        layerNormEps = try c.value("layer_norm_eps", d.layerNormEps)
    }
}

public struct BLIPConfig: Decodable, Sendable {
    public var textConfig = BLIPTextConfig()
    public var visionConfig = BLIPVisionConfig()
    public var imageTextHiddenSize = 256
    public var tieWordEmbeddings = true

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        textConfig = try c.value("text_config", BLIPTextConfig())
        visionConfig = try c.value("vision_config", BLIPVisionConfig())
        imageTextHiddenSize = try c.value("image_text_hidden_size", 256)
        tieWordEmbeddings = try c.value("tie_word_embeddings", true)
        // BlipConfig.__post_init__: the text cross-attention reads the vision tower's hidden states.
        textConfig.encoderHiddenSize = visionConfig.hiddenSize
    }

    static func load(_ url: URL) throws -> BLIPConfig {
        guard let data = try? Data(contentsOf: url) else { throw BLIPError.missingFile(url.path) }
        let config: BLIPConfig
        do {
            config = try JSONDecoder().decode(BLIPConfig.self, from: data)
        } catch {
            throw BLIPError.invalidConfig(file: url.lastPathComponent, detail: "\(error)")
        }
        let t = config.textConfig, v = config.visionConfig
        if t.hiddenSize % max(t.numAttentionHeads, 1) != 0 || t.numAttentionHeads < 1 {
            throw BLIPError.invalidConfig(file: url.lastPathComponent,
                detail: "text hidden_size \(t.hiddenSize) is not divisible by num_attention_heads \(t.numAttentionHeads)")
        }
        if v.hiddenSize % max(v.numAttentionHeads, 1) != 0 || v.numAttentionHeads < 1 {
            throw BLIPError.invalidConfig(file: url.lastPathComponent,
                detail: "vision hidden_size \(v.hiddenSize) is not divisible by num_attention_heads \(v.numAttentionHeads)")
        }
        if v.patchSize < 1 || v.imageSize % v.patchSize != 0 {
            throw BLIPError.invalidConfig(file: url.lastPathComponent,
                detail: "image_size \(v.imageSize) is not a multiple of patch_size \(v.patchSize)")
        }
        return config
    }
}
