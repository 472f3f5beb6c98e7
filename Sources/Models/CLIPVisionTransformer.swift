// Port of transformers' modeling_clip.py CLIPVisionEmbeddings and CLIPVisionTransformer
// (without interpolate_pos_encoding: inputs must be image_size × image_size).
import Tensor

struct CLIPVisionEmbeddings: Sendable {
    let config: CLIPVisionConfig
    let classEmbedding: Tensor        // [hidden]
    /// patch_embedding is Conv2d(C, hidden, kernel=patch, stride=patch, bias=False); with
    /// stride == kernel it is a linear map of each flattened (c, ky, kx) patch.
    let patchEmbedding: Linear
    let positionEmbedding: Embedding  // [num_patches + 1, hidden]
    let numPatches: Int

    init(_ vb: VarBuilder, config: CLIPVisionConfig) throws {
        self.config = config
        let d = config.hiddenSize, p = config.patchSize, c = config.numChannels
        guard p > 0, config.imageSize % p == 0 else {
            throw CLIPError.invalidConfig(file: "config.json", detail: "image_size \(config.imageSize) is not a multiple of patch_size \(p)")
        }
        classEmbedding = try vb.tensor("class_embedding", shape: [d])
        let conv = try vb.tensor("patch_embedding.weight", shape: [d, c, p, p])
        patchEmbedding = Linear(weight: conv.reshaped([d, c * p * p]), bias: nil)
        numPatches = (config.imageSize / p) * (config.imageSize / p)
        positionEmbedding = try Embedding(vb.scope("position_embedding"), count: numPatches + 1, dim: d)
    }

    /// pixelValues [B, C, S, S] -> embeddings [B·(patches+1), hidden].
    func callAsFunction(_ pixelValues: Tensor) -> Tensor {
        let b = pixelValues.shape[0], c = config.numChannels, s = config.imageSize, p = config.patchSize
        let g = s / p, d = config.hiddenSize, seq = numPatches + 1
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
                    positionEmbedding.weight.data.withUnsafeBufferPointer { pos in
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

struct CLIPVisionTransformer: Sendable {
    let config: CLIPVisionConfig
    let embeddings: CLIPVisionEmbeddings
    let preLayrnorm: LayerNorm   // sic: the checkpoint name is "pre_layrnorm"
    let encoder: CLIPEncoder
    let postLayernorm: LayerNorm

    init(_ vb: VarBuilder, config: CLIPVisionConfig) throws {
        self.config = config
        let act = try Activation(name: config.hiddenAct)
        embeddings = try CLIPVisionEmbeddings(vb.scope("embeddings"), config: config)
        preLayrnorm = try LayerNorm(vb.scope("pre_layrnorm"), dim: config.hiddenSize, eps: config.layerNormEps)
        encoder = try CLIPEncoder(vb.scope("encoder"), layers: config.numHiddenLayers, hidden: config.hiddenSize,
                                  intermediate: config.intermediateSize, heads: config.numAttentionHeads,
                                  activation: act, eps: config.layerNormEps)
        postLayernorm = try LayerNorm(vb.scope("post_layernorm"), dim: config.hiddenSize, eps: config.layerNormEps)
    }

    /// pooler_output: post_layernorm of the class token, [B, hidden].
    func callAsFunction(_ pixelValues: Tensor) -> Tensor {
        let b = pixelValues.shape[0], seq = embeddings.numPatches + 1, d = config.hiddenSize
        var h = embeddings(pixelValues)
        h = preLayrnorm(h)
        let last = encoder(h, batch: b, seq: seq, mask: .none)
        let cls = Tensor.uninitialized([b, d]) { out in
            last.data.withUnsafeBufferPointer { src in
                for n in 0..<b {
                    (out.baseAddress! + n * d).update(from: src.baseAddress! + n * seq * d, count: d)
                }
            }
        }
        return postLayernorm(cls)
    }
}
