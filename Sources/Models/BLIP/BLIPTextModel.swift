// Port of transformers' modeling_blip_text.py BlipTextEmbeddings, BlipTextSelfAttention,
// BlipTextSelfOutput, BlipTextAttention, BlipTextIntermediate/BlipTextOutput, BlipTextLayer,
// BlipTextEncoder, BlipTextModel (add_pooling_layer=False, the only form BLIP's captioning and
// retrieval heads use) and BlipTextLMHeadModel's prediction head. Two ways through the layers:
// - the decoder (captions) goes through a KV cache, appending to it step by step;
// - the encoder passes (ITM, ITC) take texts of different lengths packed back to back, with no
//   padding rows and no cache: a padded batch's padding mask only hides the padding keys, and a
//   real token's output never depends on the padding rows, so they are simply not computed.
import Tensor

/// Keys and values of the image tokens for every layer's cross-attention, computed once per image
/// and read by all beams/samples of that image at every decoding step (transformers keeps them in
/// EncoderDecoderCache.cross_attention_cache). Layer l holds [images·tokens, 2·hidden] = [K | V].
struct BLIPCrossKV: Sendable {
    let perLayer: [Tensor]
    let tokens: Int
    let hidden: Int
}

/// The images packed texts attend to in an encoder pass (ITM): encoder_hidden_states, and which
/// texts each image has (consecutive ones: image i's are texts[textsOfImage[i]]).
struct BLIPImageContext: Sendable {
    /// Vision last_hidden_state, [images·tokens, encoder_hidden].
    let hidden: Tensor
    let tokens: Int
    let textsOfImage: [Range<Int>]
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
        self(ids, positions: (0..<(ids.count / max(tq, 1))).flatMap { _ in start..<(start + tq) })
    }

    /// ids at the given positions, one each.
    func callAsFunction(_ ids: [Int], positions: [Int]) -> Tensor {
        precondition(ids.count == positions.count && positions.allSatisfy { $0 >= 0 && $0 < maxPositions })
        var e = word(ids)
        let d = e.lastDim
        e.data.withUnsafeMutableBufferPointer { out in
            position.weight.withUnsafeFloats { pos in
                for (i, p) in positions.enumerated() {
                    for j in 0..<d { out[i * d + j] += pos[p * d + j] }
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

    func callAsFunction(_ x: Tensor, _ input: Tensor, decoding: Bool = false) -> Tensor {
        var h = dense.decoding(x, decoding)
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
        selfQKV = try Linear(stacking: ["query", "key", "value"].map { vb.scope("attention.self.\($0)") },
                             inFeatures: d, outFeatures: d, precision: vb.precision)
        selfOutput = try BLIPTextResidualOutput(vb.scope("attention.output"), inFeatures: d, hidden: d, eps: c.layerNormEps)
        // BlipTextLayer builds cross-attention only for is_decoder configs (both BLIP heads use them).
        if c.isDecoder {
            let e = c.encoderHiddenSize
            crossQuery = try Linear(vb.scope("crossattention.self.query"), inFeatures: d, outFeatures: d)
            crossKV = try Linear(stacking: ["key", "value"].map { vb.scope("crossattention.self.\($0)") },
                                 inFeatures: e, outFeatures: d, precision: vb.precision)
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
        let qkv = selfQKV.decoding(h, true)
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
        var attentionOutput = selfOutput(context, h, decoding: true)
        if let cross {
            // Row r's tq queries see all tokens of image imageOfRow[r]; consecutive rows of one image
            // (its beams or samples) are one segment, so its keys and values are read once per step.
            var segments: [(rows: Range<Int>, image: Int)] = []
            for r in 0..<rows {
                let image = cross.imageOfRow[r]
                if let last = segments.last, last.image == image, last.rows.upperBound == r * tq {
                    segments[segments.count - 1].rows = last.rows.lowerBound..<((r + 1) * tq)
                } else {
                    segments.append((rows: (r * tq)..<((r + 1) * tq), image: image))
                }
            }
            attentionOutput = crossAttention(attentionOutput, kv: cross.kv.perLayer[l], tokens: cross.kv.tokens, segments: segments,
                                             decoding: true)
        }
        return feedForward(attentionOutput, decoding: true)
    }

    /// The same layer over packed texts (PackedSequences), without a cache: the encoder passes.
    /// With `firstTokensOnly` it returns only each text's first ([CLS]) row, [texts, hidden]: every
    /// token still gives its self-attention key and value, but nothing else of the other rows is
    /// computed. ITM and ITC read only [CLS] of the last layer, and no row depends on another
    /// there except through those keys and values.
    func encode(_ h: Tensor, texts: PackedSequences, image: BLIPImageContext?, firstTokensOnly: Bool = false) -> Tensor {
        // attention.self: each text attends to all of its own tokens (bidirectional) — exactly the
        // keys the padding mask leaves visible in a padded batch.
        let context = packedSelfAttention(selfQKV(h), segments: texts.ranges, heads: heads, causal: false,
                                          queryRows: firstTokensOnly ? texts.firstRows : nil)
        var attentionOutput = selfOutput(context, firstTokensOnly ? gatherRows(h, texts.firstRows) : h)
        if let image {
            // crossattention: the image tokens' keys and values are projected here, once per image
            // and layer, as BlipTextSelfAttention does with encoder_hidden_states; all of an image's
            // texts are one query segment against them (one gemm per head, nothing copied per text).
            let kv = crossKV!(image.hidden)
            let segments = image.textsOfImage.enumerated().map { i, t in
                (rows: firstTokensOnly ? t : texts.rows(of: t), image: i)
            }
            attentionOutput = crossAttention(attentionOutput, kv: kv, tokens: image.tokens, segments: segments)
        }
        return feedForward(attentionOutput)
    }

    /// crossattention (BlipTextAttention with is_cross_attention): LayerNorm(dense(softmax(q·Kᵀ/√hd)·V)
    /// + x) with q = query(x) and K, V from `kv` ([images·tokens, 2·hidden], [K | V] per token).
    /// Segment s's query rows all see every token of its image; there is no mask (the image has no
    /// padding), so how rows are grouped into segments changes nothing but the gemm shapes.
    func crossAttention(_ x: Tensor, kv: Tensor, tokens n: Int, segments: [(rows: Range<Int>, image: Int)],
                        decoding: Bool = false) -> Tensor {
        let d = hidden, hd = hidden / heads
        let q = crossQuery!.decoding(x, decoding)
        let context = Tensor.uninitialized([x.rows, d]) { out in
            q.data.withUnsafeBufferPointer { qp in
                kv.data.withUnsafeBufferPointer { kvp in
                    nonisolated(unsafe) let base = kvp.baseAddress!
                    Ops.attention(q: qp.baseAddress!, ldq: d, segments: segments.map(\.rows), heads: heads, headDim: hd,
                                  keys: { base + segments[$0].image * n * 2 * d }, values: { base + segments[$0].image * n * 2 * d + d },
                                  keyCount: { _ in n }, ldkv: 2 * d, out: out.baseAddress!, ldo: d)
                }
            }
        }
        return crossOutput!(context, x, decoding: decoding)
    }

    /// intermediate (dense, activation) then output (LayerNorm(dense(·) + x)).
    func feedForward(_ x: Tensor, decoding: Bool = false) -> Tensor {
        var inter = intermediate.decoding(x, decoding)
        activation.apply(&inter)
        return output(inter, x, decoding: decoding)
    }
}

extension Linear {
    /// The decoder's projections (`decoding`: prefill and steps) through `decodingStep`, whose rows
    /// do not depend on each other to the bit; the encoder passes through the layer.
    func decoding(_ x: Tensor, _ decoding: Bool) -> Tensor {
        decoding ? decodingStep(x) : self(x)
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

    /// Cross-attention keys/values of image hidden states [images·tokens, encoder_hidden], every
    /// layer's, for a decoder that reads them at every step.
    func crossKV(imageEmbeds: Tensor, tokens: Int) -> BLIPCrossKV {
        BLIPCrossKV(perLayer: layers.map { $0.crossKV!(imageEmbeds) }, tokens: tokens, hidden: config.hiddenSize)
    }

    /// last_hidden_state [rows·tq, hidden] for `ids` (rows × tq) appended to `cache`.
    /// - causal: the decoder's causal mask (is_decoder=True); otherwise bidirectional. (Encoder
    ///   passes over texts of different lengths go through `encode` instead, without padding.)
    func callAsFunction(_ ids: [Int], rows: Int, tq: Int, cache: BLIPKVCache, causal: Bool,
                        cross: (kv: BLIPCrossKV, imageOfRow: [Int])?) throws -> Tensor {
        precondition(ids.count == rows * tq && cache.rows == rows, "text model: \(ids.count) ids for \(rows)×\(tq), cache rows \(cache.rows)")
        let start = cache.length
        guard start + tq <= min(cache.capacity, embeddings.maxPositions) else {
            throw BLIPError.invalidInput("sequence of \(start + tq) tokens exceeds max_position_embeddings \(embeddings.maxPositions)")
        }
        guard ids.allSatisfy({ $0 >= 0 && $0 < config.vocabSize }) else {
            throw BLIPError.invalidInput("token id outside vocab_size \(config.vocabSize)")
        }
        let visible: (Int, Int) -> Int = { _, i in causal ? start + i + 1 : start + tq }
        var h = embeddings(ids, tq: tq, start: start)
        for (l, layer) in layers.enumerated() {
            h = layer(h, layer: l, rows: rows, tq: tq, cache: cache, visible: visible, cross: cross)
        }
        cache.length = start + tq
        return h
    }

    /// last_hidden_state of packed texts, [Σ lengths, hidden], or with `firstTokensOnly` only each
    /// text's [CLS] row of it, [texts, hidden] (the last layer computes only those). Each text
    /// attends to all of its own tokens (bidirectional), and with `image` to all tokens of its
    /// image: equal, row for row, to a right-padded batch with its padding mask.
    func encode(_ texts: PackedSequences, image: BLIPImageContext?, firstTokensOnly: Bool = false) throws -> Tensor {
        guard texts.ranges.allSatisfy({ $0.count <= embeddings.maxPositions }) else {
            throw BLIPError.invalidInput("text exceeds max_position_embeddings \(embeddings.maxPositions)")
        }
        guard texts.ids.allSatisfy({ $0 >= 0 && $0 < config.vocabSize }) else {
            throw BLIPError.invalidInput("token id outside vocab_size \(config.vocabSize)")
        }
        precondition(image.map { $0.textsOfImage.count * $0.tokens == $0.hidden.rows } ?? true, "encode: image rows")
        var h = embeddings(texts.ids, positions: texts.positions)
        for (l, layer) in layers.enumerated() {
            h = layer.encode(h, texts: texts, image: image, firstTokensOnly: firstTokensOnly && l == layers.count - 1)
        }
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
    init(_ vb: VarBuilder, config c: BLIPTextConfig, wordEmbeddings: WeightMatrix, tie: Bool) throws {
        let d = c.hiddenSize, v = c.vocabSize
        dense = try Linear(vb.scope("transform.dense"), inFeatures: d, outFeatures: d)
        activation = try Activation(name: c.hiddenAct)
        layerNorm = try LayerNorm(vb.scope("transform.LayerNorm"), dim: d, eps: c.layerNormEps)
        let bias = try vb.tensor("bias", shape: [v])
        if tie {
            if vb.contains("decoder.weight") { _ = try vb.weights("decoder.weight", shape: [v, d]) }
            if vb.contains("decoder.bias") { _ = try vb.tensor("decoder.bias", shape: [v]) }
            decoder = try Linear(weight: wordEmbeddings, bias: bias, precision: vb.precision)
        } else {
            decoder = try Linear(vb.scope("decoder"), inFeatures: d, outFeatures: v)
        }
    }

    func callAsFunction(_ h: Tensor) -> Tensor {
        var x = dense.decoding(h, true)
        activation.apply(&x)
        return decoder.decoding(layerNorm(x), true)
    }
}
