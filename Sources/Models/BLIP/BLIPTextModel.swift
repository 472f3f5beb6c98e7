// Port of transformers' modeling_blip_text.py BlipTextEmbeddings, BlipTextSelfAttention,
// BlipTextSelfOutput, BlipTextAttention, BlipTextIntermediate/BlipTextOutput, BlipTextLayer,
// BlipTextEncoder, BlipTextModel (add_pooling_layer=False, the only form BLIP's captioning and
// retrieval heads use) and BlipTextLMHeadModel's prediction head. Every forward goes through a
// KV cache: the decoder appends to it step by step, an encoder pass fills one of its own length.
import Tensor

/// Keys and values of the image tokens for every layer's cross-attention, computed once per image
/// and read by all beams/samples of that image. Layer l holds [images·tokens, 2·hidden] = [K | V].
struct BLIPCrossKV: Sendable {
    let perLayer: [Tensor]
    let tokens: Int
    let hidden: Int
}

struct BLIPTextEmbeddings: Sendable {
    let word: Embedding
    let position: Embedding
    let layerNorm: LayerNorm
    let maxPositions: Int

    init(_ vb: VarBuilder, config c: BLIPTextConfig) throws {
        word = try Embedding(vb.scope("word_embeddings"), count: c.vocabSize, dim: c.hiddenSize)
        position = try Embedding(vb.scope("position_embeddings"), count: c.maxPositionEmbeddings, dim: c.hiddenSize)
        layerNorm = try LayerNorm(vb.scope("LayerNorm"), dim: c.hiddenSize, eps: c.layerNormEps)
        maxPositions = c.maxPositionEmbeddings
    }

    /// ids of `rows` sequences, `tq` each, at positions start ..< start+tq (cache_length offset).
    func callAsFunction(_ ids: [Int], tq: Int, start: Int) -> Tensor {
        var e = word(ids)
        let d = e.lastDim
        e.data.withUnsafeMutableBufferPointer { out in
            position.weight.data.withUnsafeBufferPointer { pos in
                for r in 0..<(ids.count / tq) {
                    for i in 0..<tq {
                        let o = (r * tq + i) * d, p = (start + i) * d
                        for j in 0..<d { out[o + j] += pos[p + j] }
                    }
                }
            }
        }
        return layerNorm(e)
    }
}

/// BlipTextSelfOutput (and BlipTextOutput): LayerNorm(dense(x) + input).
struct BLIPTextResidualOutput: Sendable {
    let dense: Linear
    let layerNorm: LayerNorm

    init(_ vb: VarBuilder, inFeatures: Int, hidden: Int, eps: Float) throws {
        dense = try Linear(vb.scope("dense"), inFeatures: inFeatures, outFeatures: hidden)
        layerNorm = try LayerNorm(vb.scope("LayerNorm"), dim: hidden, eps: eps)
    }

    func callAsFunction(_ x: Tensor, _ input: Tensor) -> Tensor {
        var h = dense(x)
        Ops.addInPlace(&h, input)
        return layerNorm(h)
    }
}

struct BLIPTextLayer: Sendable {
    let hidden: Int
    let heads: Int
    /// attention.self.{query,key,value} stacked into one [3·hidden, hidden] projection.
    let selfQKV: Linear
    let selfOutput: BLIPTextResidualOutput
    /// crossattention.self.query, and {key,value} stacked into one [2·hidden, encoder_hidden].
    let crossQuery: Linear?
    let crossKV: Linear?
    let crossOutput: BLIPTextResidualOutput?
    let intermediate: Linear
    let activation: Activation
    let output: BLIPTextResidualOutput

    init(_ vb: VarBuilder, config c: BLIPTextConfig) throws {
        let d = c.hiddenSize
        hidden = d
        heads = c.numAttentionHeads
        let q = try Linear(vb.scope("attention.self.query"), inFeatures: d, outFeatures: d)
        let k = try Linear(vb.scope("attention.self.key"), inFeatures: d, outFeatures: d)
        let v = try Linear(vb.scope("attention.self.value"), inFeatures: d, outFeatures: d)
        selfQKV = Linear(weight: Tensor(shape: [3 * d, d], data: q.weight.data + k.weight.data + v.weight.data),
                         bias: Tensor(shape: [3 * d], data: q.bias!.data + k.bias!.data + v.bias!.data))
        selfOutput = try BLIPTextResidualOutput(vb.scope("attention.output"), inFeatures: d, hidden: d, eps: c.layerNormEps)
        // BlipTextLayer builds cross-attention only for is_decoder configs (both BLIP heads use them).
        if c.isDecoder {
            let e = c.encoderHiddenSize
            crossQuery = try Linear(vb.scope("crossattention.self.query"), inFeatures: d, outFeatures: d)
            let ck = try Linear(vb.scope("crossattention.self.key"), inFeatures: e, outFeatures: d)
            let cv = try Linear(vb.scope("crossattention.self.value"), inFeatures: e, outFeatures: d)
            crossKV = Linear(weight: Tensor(shape: [2 * d, e], data: ck.weight.data + cv.weight.data),
                             bias: Tensor(shape: [2 * d], data: ck.bias!.data + cv.bias!.data))
            crossOutput = try BLIPTextResidualOutput(vb.scope("crossattention.output"), inFeatures: d, hidden: d, eps: c.layerNormEps)
        } else {
            crossQuery = nil
            crossKV = nil
            crossOutput = nil
        }
        intermediate = try Linear(vb.scope("intermediate.dense"), inFeatures: d, outFeatures: c.intermediateSize)
        activation = try Activation(name: c.hiddenAct)
        output = try BLIPTextResidualOutput(vb.scope("output"), inFeatures: c.intermediateSize, hidden: d, eps: c.layerNormEps)
    }

    /// hidden [rows·tq, hidden] at positions cache.length ..< cache.length+tq; writes this layer's
    /// keys/values there. `cross` pairs the image keys/values with the image index of every row.
    func callAsFunction(_ h: Tensor, layer l: Int, rows: Int, tq: Int, cache: BLIPKVCache,
                        visible: (Int, Int) -> Int, cross: (kv: BLIPCrossKV, imageOfRow: [Int])?) -> Tensor {
        let d = hidden, hd = hidden / heads, start = cache.length
        let qkv = selfQKV(h)
        qkv.data.withUnsafeBufferPointer { src in
            for r in 0..<rows {
                let kRow = cache.keyRow(l, r), vRow = cache.valueRow(l, r)
                for i in 0..<tq {
                    let s = src.baseAddress! + (r * tq + i) * 3 * d
                    (kRow + (start + i) * d).update(from: s + d, count: d)
                    (vRow + (start + i) * d).update(from: s + 2 * d, count: d)
                }
            }
        }
        let context = Tensor.uninitialized([rows * tq, d]) { out in
            qkv.data.withUnsafeBufferPointer { src in
                Ops.attention(q: src.baseAddress!, ldq: 3 * d, rows: rows, tq: tq, keyCount: start + tq, heads: heads, headDim: hd,
                            keys: { UnsafePointer(cache.keyRow(l, $0)) }, values: { UnsafePointer(cache.valueRow(l, $0)) },
                            ldkv: d, visible: visible, out: out.baseAddress!, ldo: d)
            }
        }
        var attentionOutput = selfOutput(context, h)

        if let cross, let crossQuery, let crossOutput {
            let q = crossQuery(attentionOutput)
            let kv = cross.kv.perLayer[l], n = cross.kv.tokens
            let crossContext = Tensor.uninitialized([rows * tq, d]) { out in
                q.data.withUnsafeBufferPointer { qp in
                    kv.data.withUnsafeBufferPointer { kvp in
                        nonisolated(unsafe) let base = kvp.baseAddress!
                        let images = cross.imageOfRow
                        Ops.attention(q: qp.baseAddress!, ldq: d, rows: rows, tq: tq, keyCount: n, heads: heads, headDim: hd,
                                    keys: { base + images[$0] * n * 2 * d }, values: { base + images[$0] * n * 2 * d + d },
                                    ldkv: 2 * d, visible: { _, _ in n }, out: out.baseAddress!, ldo: d)
                    }
                }
            }
            attentionOutput = crossOutput(crossContext, attentionOutput)
        }

        var inter = intermediate(attentionOutput)
        activation.apply(&inter)
        return output(inter, attentionOutput)
    }
}

struct BLIPTextModel: Sendable {
    let config: BLIPTextConfig
    let embeddings: BLIPTextEmbeddings
    let layers: [BLIPTextLayer]

    init(_ vb: VarBuilder, config: BLIPTextConfig) throws {
        self.config = config
        embeddings = try BLIPTextEmbeddings(vb.scope("embeddings"), config: config)
        layers = try (0..<config.numHiddenLayers).map { try BLIPTextLayer(vb.scope("encoder.layer").scope($0), config: config) }
    }

    func makeCache(rows: Int, capacity: Int) -> BLIPKVCache {
        BLIPKVCache(layers: layers.count, rows: rows, capacity: capacity, dim: config.hiddenSize)
    }

    /// Cross-attention keys/values of image hidden states [images·tokens, encoder_hidden].
    func crossKV(imageEmbeds: Tensor, tokens: Int) -> BLIPCrossKV {
        BLIPCrossKV(perLayer: layers.map { $0.crossKV!(imageEmbeds) }, tokens: tokens, hidden: config.hiddenSize)
    }

    /// last_hidden_state [rows·tq, hidden] for `ids` (rows × tq) appended to `cache`.
    /// - causal: the decoder's causal mask (is_decoder=True); otherwise bidirectional.
    /// - keyLengths: valid (unpadded) length of each row, for right-padded encoder batches.
    func callAsFunction(_ ids: [Int], rows: Int, tq: Int, cache: BLIPKVCache, causal: Bool, keyLengths: [Int]? = nil,
                        cross: (kv: BLIPCrossKV, imageOfRow: [Int])?) throws -> Tensor {
        precondition(ids.count == rows * tq && cache.rows == rows, "text model: \(ids.count) ids for \(rows)×\(tq), cache rows \(cache.rows)")
        let start = cache.length
        guard start + tq <= min(cache.capacity, embeddings.maxPositions) else {
            throw BLIPError.invalidInput("sequence of \(start + tq) tokens exceeds max_position_embeddings \(embeddings.maxPositions)")
        }
        guard ids.allSatisfy({ $0 >= 0 && $0 < config.vocabSize }) else {
            throw BLIPError.invalidInput("token id outside vocab_size \(config.vocabSize)")
        }
        let visible: (Int, Int) -> Int = { r, i in
            var n = causal ? start + i + 1 : start + tq
            if let kl = keyLengths { n = min(n, kl[r]) }
            return n
        }
        var h = embeddings(ids, tq: tq, start: start)
        for (l, layer) in layers.enumerated() {
            h = layer(h, layer: l, rows: rows, tq: tq, cache: cache, visible: visible, cross: cross)
        }
        cache.length = start + tq
        return h
    }
}

/// BlipTextOnlyMLMHead → BlipTextLMPredictionHead: transform (dense, act, LayerNorm), then the
/// decoder projection onto the vocabulary.
struct BLIPTextLMHead: Sendable {
    let dense: Linear
    let activation: Activation
    let layerNorm: LayerNorm
    let decoder: Linear

    /// Ties as transformers' _tied_weights_keys: with tie_word_embeddings the decoder weight is the
    /// word embedding matrix and the decoder bias is cls.predictions.bias, so checkpoints leave
    /// both out; a checkpoint that stores them anyway has them checked and then replaced by the
    /// tie, as from_pretrained does. Without the tie they must be present.
    init(_ vb: VarBuilder, config c: BLIPTextConfig, wordEmbeddings: Tensor, tie: Bool) throws {
        let d = c.hiddenSize, v = c.vocabSize
        dense = try Linear(vb.scope("transform.dense"), inFeatures: d, outFeatures: d)
        activation = try Activation(name: c.hiddenAct)
        layerNorm = try LayerNorm(vb.scope("transform.LayerNorm"), dim: d, eps: c.layerNormEps)
        let bias = try vb.tensor("bias", shape: [v])
        if tie {
            if vb.contains("decoder.weight") { _ = try vb.tensor("decoder.weight", shape: [v, d]) }
            if vb.contains("decoder.bias") { _ = try vb.tensor("decoder.bias", shape: [v]) }
            decoder = Linear(weight: wordEmbeddings, bias: bias)
        } else {
            decoder = try Linear(vb.scope("decoder"), inFeatures: d, outFeatures: v)
        }
    }

    func callAsFunction(_ h: Tensor) -> Tensor {
        var x = dense(h)
        activation.apply(&x)
        return decoder(layerNorm(x))
    }
}
