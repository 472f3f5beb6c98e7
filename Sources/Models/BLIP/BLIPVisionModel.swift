// Port of transformers' modeling_blip.py BlipVisionEmbeddings, BlipAttention, BlipMLP,
// BlipEncoderLayer, BlipEncoder and BlipVisionModel (without interpolate_pos_encoding: inputs are
// image_size × image_size, which the BLIP processor guarantees). Hidden states are [batch·seq, hidden].
import Tensor

struct BLIPVisionEmbeddings: Sendable {
    let config: BLIPVisionConfig
    let classEmbedding: Tensor      // [hidden]
    /// patch_embedding is Conv2d(3, hidden, kernel=patch, stride=patch) with bias; with stride ==
    /// kernel it is a linear map of each flattened (c, ky, kx) patch.
    let patchEmbedding: Linear
    let positionEmbedding: Tensor   // [num_patches + 1, hidden]
    let numPatches: Int

    init(_ vb: VarBuilder, config: BLIPVisionConfig) throws {
        self.config = config
        let d = config.hiddenSize, p = config.patchSize
        classEmbedding = try vb.tensor("class_embedding", shape: [1, 1, d]).reshaped([d])
        let conv = try vb.tensor("patch_embedding.weight", shape: [d, 3, p, p])
        patchEmbedding = Linear(weight: conv.reshaped([d, 3 * p * p]),
                                bias: try vb.tensor("patch_embedding.bias", shape: [d]))
        numPatches = (config.imageSize / p) * (config.imageSize / p)
        positionEmbedding = try vb.tensor("position_embedding", shape: [1, numPatches + 1, d]).reshaped([numPatches + 1, d])
    }

    /// pixelValues [B, 3, S, S] -> [B·(patches+1), hidden].
    func callAsFunction(_ pixelValues: Tensor) -> Tensor {
        let b = pixelValues.shape[0], s = config.imageSize, p = config.patchSize
        let g = s / p, d = config.hiddenSize, seq = numPatches + 1
        // im2col: one row per patch in raster order (Conv2d output flattened over (gy, gx)).
        let patches = Tensor.uninitialized([b * numPatches, 3 * p * p]) { out in
            pixelValues.data.withUnsafeBufferPointer { px in
                var r = 0
                for n in 0..<b {
                    for gy in 0..<g {
                        for gx in 0..<g {
                            var o = r * 3 * p * p
                            for ch in 0..<3 {
                                for ky in 0..<p {
                                    let src = ((n * 3 + ch) * s + gy * p + ky) * s + gx * p
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

struct BLIPVisionAttention: Sendable {
    let heads: Int
    /// One fused projection whose output is [Q | K | V], each with the heads in order — the
    /// reshape(bsz, len, 3, heads, head_dim) layout of BlipAttention, which Ops.attention reads.
    let qkv: Linear
    let projection: Linear

    init(_ vb: VarBuilder, hidden: Int, heads: Int) throws {
        self.heads = heads
        qkv = try Linear(vb.scope("qkv"), inFeatures: hidden, outFeatures: 3 * hidden)
        projection = try Linear(vb.scope("projection"), inFeatures: hidden, outFeatures: hidden)
    }

    func callAsFunction(_ x: Tensor, batch: Int, seq: Int) -> Tensor {
        projection(Ops.attention(qkv: qkv(x), batch: batch, seq: seq, heads: heads, mask: .none))
    }
}

struct BLIPEncoderLayer: Sendable {
    let selfAttn: BLIPVisionAttention
    let layerNorm1: LayerNorm
    let fc1: Linear
    let fc2: Linear
    let activation: Activation
    let layerNorm2: LayerNorm

    init(_ vb: VarBuilder, config c: BLIPVisionConfig) throws {
        selfAttn = try BLIPVisionAttention(vb.scope("self_attn"), hidden: c.hiddenSize, heads: c.numAttentionHeads)
        layerNorm1 = try LayerNorm(vb.scope("layer_norm1"), dim: c.hiddenSize, eps: c.layerNormEps)
        fc1 = try Linear(vb.scope("mlp.fc1"), inFeatures: c.hiddenSize, outFeatures: c.intermediateSize)
        fc2 = try Linear(vb.scope("mlp.fc2"), inFeatures: c.intermediateSize, outFeatures: c.hiddenSize)
        activation = try Activation(name: c.hiddenAct)
        layerNorm2 = try LayerNorm(vb.scope("layer_norm2"), dim: c.hiddenSize, eps: c.layerNormEps)
    }

    func callAsFunction(_ hiddenStates: Tensor, batch: Int, seq: Int) -> Tensor {
        let residual = hiddenStates
        var h = layerNorm1(hiddenStates)
        h = selfAttn(h, batch: batch, seq: seq)
        Ops.addInPlace(&h, residual)
        let residual2 = h
        var m = fc1(layerNorm2(h))
        activation.apply(&m)
        m = fc2(m)
        Ops.addInPlace(&m, residual2)
        return m
    }
}

struct BLIPVisionModel: Sendable {
    let config: BLIPVisionConfig
    let embeddings: BLIPVisionEmbeddings
    let layers: [BLIPEncoderLayer]
    let postLayernorm: LayerNorm

    var tokens: Int { embeddings.numPatches + 1 }

    init(_ vb: VarBuilder, config: BLIPVisionConfig) throws {
        self.config = config
        embeddings = try BLIPVisionEmbeddings(vb.scope("embeddings"), config: config)
        layers = try (0..<config.numHiddenLayers).map { try BLIPEncoderLayer(vb.scope("encoder.layers").scope($0), config: config) }
        postLayernorm = try LayerNorm(vb.scope("post_layernorm"), dim: config.hiddenSize, eps: config.layerNormEps)
    }

    /// last_hidden_state (post_layernorm applied), [B·(patches+1), hidden]. This is what the text
    /// decoder and the ITM/ITC heads read; pooler_output (a second post_layernorm of the class
    /// token) is used by neither.
    func callAsFunction(_ pixelValues: Tensor) throws -> Tensor {
        let s = config.imageSize
        guard pixelValues.rank == 4, pixelValues.shape[1] == 3, pixelValues.shape[2] == s, pixelValues.shape[3] == s else {
            throw BLIPError.invalidInput("pixel_values of shape \(pixelValues.shape) do not match image_size \(s)")
        }
        let b = pixelValues.shape[0]
        var h = embeddings(pixelValues)
        for layer in layers { h = layer(h, batch: b, seq: tokens) }
        return postLayernorm(h)
    }
}
