// Port of transformers' modeling_clip.py CLIPVisionEmbeddings and modeling_blip.py
// BlipVisionEmbeddings, and of the body both CLIPVisionTransformer and BlipVisionModel run:
// embeddings, (CLIP only) pre_layrnorm, encoder. Each of those models applies its post_layernorm
// and pooling itself (CLIPVisionTransformer.swift, BLIPVisionModel.swift). No
// interpolate_pos_encoding: inputs are image_size × image_size, which both processors guarantee.
// Hidden states are [batch·seq, hidden].
import Tensor

struct VisionTransformerConfiguration: Sendable {
    var encoder: TransformerEncoderConfiguration
    var imageSize: Int
    var patchSize: Int
    var numChannels: Int
    /// BlipVisionEmbeddings' Conv2d has a bias; CLIPVisionEmbeddings' has bias=False.
    var patchEmbeddingBias: Bool
    /// BLIP keeps class_embedding [1, 1, hidden] and position_embedding [1, positions, hidden] as
    /// nn.Parameters; CLIP has class_embedding [hidden] and position_embedding an nn.Embedding
    /// (its tensor is position_embedding.weight [positions, hidden]).
    var embeddingsAsParameters: Bool
    /// CLIP's LayerNorm between embeddings and encoder, "pre_layrnorm" (sic) in checkpoints.
    var preLayernorm: Bool
}

struct VisionEmbeddings: Sendable {
    let config: VisionTransformerConfiguration
    let classEmbedding: Tensor        // [hidden]
    /// patch_embedding is Conv2d(C, hidden, kernel=patch, stride=patch); with stride == kernel it
    /// is a linear map of each flattened (c, ky, kx) patch.
    let patchEmbedding: Linear
    let positionEmbedding: Tensor     // [num_patches + 1, hidden]
    let numPatches: Int

    init(_ vb: VarBuilder, config: VisionTransformerConfiguration) throws {
        self.config = config
        let d = config.encoder.hiddenSize, p = config.patchSize, c = config.numChannels
        guard p > 0, config.imageSize % p == 0 else {
            throw CheckpointError.invalidConfig(file: "config.json", detail: "image_size \(config.imageSize) is not a multiple of patch_size \(p)")
        }
        numPatches = (config.imageSize / p) * (config.imageSize / p)
        let positions = numPatches + 1
        let conv = try vb.weights("patch_embedding.weight", shape: [d, c, p, p])
        patchEmbedding = try Linear(weight: conv.reshaped([d, c * p * p]),
                                    bias: config.patchEmbeddingBias ? try vb.tensor("patch_embedding.bias", shape: [d]) : nil,
                                    precision: vb.precision)
        if config.embeddingsAsParameters {
            classEmbedding = try vb.tensor("class_embedding", shape: [1, 1, d]).reshaped([d])
            positionEmbedding = try vb.tensor("position_embedding", shape: [1, positions, d]).reshaped([positions, d])
        } else {
            classEmbedding = try vb.tensor("class_embedding", shape: [d])
            positionEmbedding = try Embedding(vb.scope("position_embedding"), count: positions, dim: d).weight.tensor
        }
    }

    /// pixelValues [B, C, S, S] -> embeddings [B·(patches+1), hidden]: the class token, then the
    /// patches in raster order, plus the position embeddings.
    func callAsFunction(_ pixelValues: Tensor) -> Tensor {
        let b = pixelValues.shape[0], c = config.numChannels, s = config.imageSize, p = config.patchSize
        let g = s / p, d = config.encoder.hiddenSize, seq = numPatches + 1
        // im2col: one row per patch in raster order (Conv2d output flattened over (gy, gx)).
        let patches = Tensor.uninitialized([b * numPatches, c * p * p]) { out in
            pixelValues.data.withUnsafeBufferPointer { px in
                var r = 0
                for n in 0..<b {
                    for gy in 0..<g {
                        for gx in 0..<g {
                            var o = r * c * p * p
                            for ch in 0..<c {
                                for ky in 0..<p {
                                    let src = ((n * c + ch) * s + gy * p + ky) * s + gx * p
                                    for kx in 0..<p { out[o] = px[src + kx]; o += 1 }
                                }
                            }
                            r += 1
                        }
                    }
                }
            }
        }
        let patchEmbeds = patchEmbedding(patches)
        return Tensor.uninitialized([b * seq, d]) { out in
            patchEmbeds.data.withUnsafeBufferPointer { pe in
                classEmbedding.data.withUnsafeBufferPointer { cls in
                    positionEmbedding.data.withUnsafeBufferPointer { pos in
                        for n in 0..<b {
                            for t in 0..<seq {
                                let dst = (n * seq + t) * d
                                for i in 0..<d {
                                    let v = t == 0 ? cls[i] : pe[(n * numPatches + t - 1) * d + i]
                                    out[dst + i] = v + pos[t * d + i]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

struct VisionTransformer: Sendable {
    let config: VisionTransformerConfiguration
    let embeddings: VisionEmbeddings
    let preLayrnorm: LayerNorm?
    let encoder: TransformerEncoder
    let postLayernorm: LayerNorm

    /// Tokens per image: the class token and the patches.
    var tokens: Int { embeddings.numPatches + 1 }

    init(_ vb: VarBuilder, config: VisionTransformerConfiguration) throws {
        self.config = config
        let d = config.encoder.hiddenSize, eps = config.encoder.layerNormEps
        embeddings = try VisionEmbeddings(vb.scope("embeddings"), config: config)
        preLayrnorm = config.preLayernorm ? try LayerNorm(vb.scope("pre_layrnorm"), dim: d, eps: eps) : nil
        encoder = try TransformerEncoder(vb.scope("encoder"), config: config.encoder)
        postLayernorm = try LayerNorm(vb.scope("post_layernorm"), dim: d, eps: eps)
    }

    /// Checks what both models' forward would reject: pixel_values must be [B, C, S, S].
    func validate(_ pixelValues: Tensor) throws {
        let s = config.imageSize
        guard pixelValues.rank == 4, pixelValues.shape[1] == config.numChannels,
              pixelValues.shape[2] == s, pixelValues.shape[3] == s else {
            throw CheckpointError.invalidInput("pixel_values of shape \(pixelValues.shape) do not match image_size \(s)")
        }
    }

    /// The encoder's last_hidden_state, before post_layernorm: [B·tokens, hidden].
    func encode(_ pixelValues: Tensor) throws -> Tensor {
        encoder(try encoderInput(pixelValues), batch: pixelValues.shape[0], seq: tokens, mask: .none)
    }

    /// Embeddings, then (CLIP) pre_layrnorm: what the encoder's first layer reads.
    private func encoderInput(_ pixelValues: Tensor) throws -> Tensor {
        try validate(pixelValues)
        let h = embeddings(pixelValues)
        return preLayrnorm.map { $0(h) } ?? h
    }

    /// The encoder's last_hidden_state of the class tokens only, [B, hidden], for a model that
    /// pools the class token (CLIP): the last layer computes nothing else of the other tokens
    /// but their keys and values.
    func encodeClassTokens(_ pixelValues: Tensor) throws -> Tensor {
        let b = pixelValues.shape[0], seq = tokens
        var h = try encoderInput(pixelValues)
        for layer in encoder.layers.dropLast() { h = layer(h, batch: b, seq: seq, mask: .none) }
        let images = (0..<b).map { ($0 * seq)..<(($0 + 1) * seq) }
        return encoder.layers.last.map { $0(h, segments: images, causal: false, queryRows: images.map(\.lowerBound)) }
            ?? gatherRows(h, images.map(\.lowerBound))
    }
}
