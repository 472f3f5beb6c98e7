// Port of transformers' modeling_blip.py BlipForConditionalGeneration (forward and generate) on
// top of BlipVisionModel and BlipTextLMHeadModel, loading a `model_type: blip` captioning folder
// unchanged: config.json, model.safetensors, vocab.txt, tokenizer_config.json (+ tokenizer.json),
// preprocessor_config.json.
//
// generate() as transformers does it: the vision pass once per image; the decoder starts from
// [DEC] (text_config.bos_token_id) followed by the prompt's tokens — BlipProcessor's
// "[CLS] prompt [SEP]" with its first id replaced by bos and its last ([SEP]) dropped — and stops
// on text_config.sep_token_id. Unlike transformers we also compute each image's cross-attention
// keys/values once (not once per beam or sample) and prefill the prompt once per image.
import Foundation
import Tensor

/// Immutable after `load`, so one instance may serve several threads; generation state lives in
/// each call.
public final class BLIPCaptioner: Sendable {
    public let config: BLIPConfig
    public let tokenizer: BertTokenizer
    public let processor: BLIPImageProcessor
    /// "<folder name>-<12 hex digits>", the same fingerprint as CLIPModel.modelID (config.json bytes,
    /// safetensors header, weights file size).
    public let modelID: String
    /// Images per vision/decoder batch.
    public let batchSize: Int
    /// The precision of the linear layers' products (`precision:` in a pipeline).
    public let precision: Precision

    let vision: BLIPVisionModel
    let decoder: BLIPTextModel
    let head: BLIPTextLMHead

    init(config: BLIPConfig, tokenizer: BertTokenizer, processor: BLIPImageProcessor, weights: WeightStore,
         modelID: String, batchSize: Int, precision: Precision) throws {
        self.config = config
        self.tokenizer = tokenizer
        self.processor = processor
        self.modelID = modelID
        self.batchSize = batchSize
        self.precision = precision
        let vb = weights.root(precision: precision)
        vision = try BLIPVisionModel(vb.scope("vision_model"), config: config.visionConfig)
        guard config.textConfig.isDecoder else {
            throw BLIPError.invalidConfig(file: "config.json", detail: "text_config.is_decoder is false: the captioning decoder needs cross-attention")
        }
        decoder = try BLIPTextModel(vb.scope("text_decoder.bert"), config: config.textConfig)
        head = try BLIPTextLMHead(vb.scope("text_decoder.cls.predictions"), config: config.textConfig,
                                  wordEmbeddings: decoder.embeddings.word.weight, tie: config.tieWordEmbeddings)
        try weights.assertAllUsed()
    }

    public static func load(directory: URL, batchSize: Int = 8, precision: Precision = .fp32) throws -> BLIPCaptioner {
        let (config, tokenizer, processor, weights, id) = try BLIPFolder.open(directory)
        return try BLIPCaptioner(config: config, tokenizer: tokenizer, processor: processor, weights: weights,
                                 modelID: id + precision.idSuffix, batchSize: max(1, batchSize), precision: precision)
    }

    // MARK: - Forward passes (also what the golden tests check)

    /// vision_model(pixel_values).last_hidden_state, [B·tokens, hidden].
    public func visionHiddenStates(pixelValues: Tensor) throws -> Tensor {
        try vision(pixelValues)
    }

    /// forward(pixel_values, input_ids).logits as [B·T, vocab] (teacher forcing, causal mask).
    /// With `stepwise` the tokens go through the KV cache one at a time, as generation feeds them.
    public func decoderLogits(pixelValues: Tensor, inputIDs: [[Int]], stepwise: Bool = false) throws -> Tensor {
        let b = inputIDs.count, t = inputIDs.first?.count ?? 0
        guard b == pixelValues.shape[0], t > 0, inputIDs.allSatisfy({ $0.count == t }) else {
            throw BLIPError.invalidInput("decoderLogits: \(b) id rows of equal non-zero length needed for \(pixelValues.shape[0]) images")
        }
        let image = try vision(pixelValues)
        let cross = decoder.crossKV(imageEmbeds: image, tokens: vision.tokens)
        let cache = decoder.makeCache(rows: b, capacity: t)
        let rows = Array(0..<b)
        if !stepwise {
            return head(try decoder(inputIDs.flatMap { $0 }, rows: b, tq: t, cache: cache, causal: true, cross: (cross, rows)))
        }
        var out = [Float](repeating: 0, count: b * t * config.textConfig.vocabSize)
        let v = config.textConfig.vocabSize
        for i in 0..<t {
            let logits = head(try decoder(inputIDs.map { $0[i] }, rows: b, tq: 1, cache: cache, causal: true, cross: (cross, rows)))
            for r in 0..<b {
                out.replaceSubrange(((r * t + i) * v)..<((r * t + i + 1) * v), with: logits.data[(r * v)..<((r + 1) * v)])
            }
        }
        return Tensor(shape: [b * t, v], data: out)
    }

    // MARK: - Captions

    /// Captions for each image: `settings.numCaptions` of them (one for greedy), best first for beam search.
    public func caption(_ images: [RGBImage], settings: CaptionSettings) throws -> [[Caption]] {
        try settings.validate()
        var out: [[Caption]] = []
        out.reserveCapacity(images.count)
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let batch = Array(images[start..<min(start + batchSize, images.count)])
            let pixels = try processor.preprocess(batch)
            out += try generate(pixelValues: pixels, settings: settings, sampleSeeds: batch.map(Self.contentHash))
        }
        return out
    }

    /// The decoder's starting ids: what BlipForConditionalGeneration.generate makes of
    /// BlipProcessor(text=prompt).input_ids (bos in place of [CLS], trailing [SEP] removed).
    public func promptIDs(_ prompt: String?) -> [Int] {
        [config.textConfig.bosTokenId] + tokenizer.tokenize(prompt ?? "")
    }

    /// generate() on preprocessed images. `sampleSeeds` (one per image) make nucleus samples
    /// depend on the image and seed only, not on batching; by default the image's batch index.
    public func generate(pixelValues: Tensor, settings: CaptionSettings, sampleSeeds: [UInt64]? = nil) throws -> [[Caption]] {
        try settings.validate()
        let nImages = pixelValues.shape[0]
        let text = config.textConfig
        let prompt = promptIDs(settings.prompt)
        let maxLength = prompt.count + settings.maxNewTokens
        guard maxLength <= text.maxPositionEmbeddings else {
            throw BLIPError.invalidInput("prompt (\(prompt.count) tokens) + maxNewTokens (\(settings.maxNewTokens)) exceeds max_position_embeddings \(text.maxPositionEmbeddings)")
        }
        let image = try vision(pixelValues)
        let cross = decoder.crossKV(imageEmbeds: image, tokens: vision.tokens)
        // Every beam/sample of an image shares the prompt: run it once per image, then copy the cache rows.
        let cache = decoder.makeCache(rows: nImages, capacity: maxLength)
        let prefill = try decoder(Array(repeating: prompt, count: nImages).flatMap { $0 }, rows: nImages, tq: prompt.count,
                                  cache: cache, causal: true, cross: (cross, Array(0..<nImages)))
        let firstLogits = head(lastPositions(prefill, rows: nImages, tq: prompt.count))
        switch settings.strategy {
        case .greedy, .nucleus:
            return try sample(firstLogits: firstLogits, cache: cache, cross: cross, prompt: prompt, maxLength: maxLength,
                              settings: settings, seeds: sampleSeeds ?? (0..<nImages).map { UInt64($0) })
        case let .beam(numBeams, lengthPenalty, earlyStopping):
            return try beamSearch(firstLogits: firstLogits, cache: cache, cross: cross, prompt: prompt, maxLength: maxLength,
                                  numBeams: numBeams, lengthPenalty: lengthPenalty, earlyStopping: earlyStopping, settings: settings)
        }
    }

    func lastPositions(_ h: Tensor, rows: Int, tq: Int) -> Tensor {
        if tq == 1 { return h }
        let d = h.lastDim
        return Tensor(shape: [rows, d], data: (0..<rows).flatMap { h.data[((($0 + 1) * tq - 1) * d)..<(($0 + 1) * tq * d)] })
    }

    /// Greedy search (_sample with do_sample=False) and multinomial sampling (do_sample=True with
    /// num_return_sequences samples per image). Finished rows leave the batch instead of being fed
    /// padding, which does not change the other rows.
    func sample(firstLogits: Tensor, cache: BLIPKVCache, cross: BLIPCrossKV, prompt: [Int], maxLength: Int,
                settings: CaptionSettings, seeds: [UInt64]) throws -> [[Caption]] {
        let nImages = firstLogits.rows, v = firstLogits.lastDim
        let perImage = settings.numCaptions
        let sep = config.textConfig.sepTokenId
        struct Row { var image: Int; var index: Int; var tokens: [Int]; var logProb: Float = 0; var rng: SplitMix64 }
        var rows: [Row] = []
        var source: [Int] = []
        for i in 0..<nImages {
            for s in 0..<perImage {
                var mix = SplitMix64(seed: settings.seed ^ (seeds[i] &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(s) &* 0xD1B5_4A32_D192_ED03))
                _ = mix.next()
                rows.append(Row(image: i, index: s, tokens: prompt, rng: mix))
                source.append(i)
            }
        }
        cache.select(source)
        var logits = Tensor(shape: [rows.count, v], data: source.flatMap { firstLogits.data[($0 * v)..<(($0 + 1) * v)] })
        var results = Array(repeating: [Caption?](repeating: nil, count: perImage), count: nImages)
        while true {
            var next: [Int] = []
            var keep: [Int] = []
            // Each row's choice depends only on its own logits, tokens and generator: rows are
            // spread over the threads, then the batch is updated in row order.
            var picked = [(token: Int, raw: Float)](repeating: (0, 0), count: rows.count)
            logits.data.withUnsafeBufferPointer { buf in
                rows.withUnsafeMutableBufferPointer { rowBuf in
                    picked.withUnsafeMutableBufferPointer { out in
                        nonisolated(unsafe) let (buf, rowBuf, out) = (buf, rowBuf, out)
                        Parallel.forEachRange(rowBuf.count, minPerThread: 1) { range in
                            var scores = [Float](repeating: 0, count: v)
                            for r in range {
                                let row = UnsafeBufferPointer(rebasing: buf[(r * v)..<((r + 1) * v)])
                                _ = scores.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: row) }
                                LogitsProcessing.repetitionPenalty(&scores, previous: rowBuf[r].tokens, penalty: settings.repetitionPenalty)
                                LogitsProcessing.minNewTokens(&scores, newTokens: rowBuf[r].tokens.count - prompt.count,
                                                              minNewTokens: settings.minNewTokens, eos: sep)
                                let token: Int
                                if case let .nucleus(topP, topK, temperature) = settings.strategy {
                                    token = scores.withUnsafeBufferPointer {
                                        LogitsProcessing.sampleNucleus($0, temperature: temperature, topK: topK, topP: topP, rng: &rowBuf[r].rng)
                                    }
                                } else {
                                    token = Self.argmax(scores)
                                }
                                out[r] = (token, LogitsProcessing.logSoftmax(row, at: token))
                            }
                        }
                    }
                }
            }
            for r in rows.indices {
                let (token, raw) = picked[r]
                rows[r].tokens.append(token)
                rows[r].logProb += raw
                if token == sep || rows[r].tokens.count >= maxLength {
                    results[rows[r].image][rows[r].index] = makeCaption(rows[r].tokens, score: rows[r].logProb, logProb: rows[r].logProb)
                } else {
                    keep.append(r)
                    next.append(token)
                }
            }
            if keep.isEmpty { break }
            if keep.count != rows.count {
                cache.select(keep)
                rows = keep.map { rows[$0] }
            }
            let h = try decoder(next, rows: rows.count, tq: 1, cache: cache, causal: true, cross: (cross, rows.map(\.image)))
            logits = head(h)
        }
        return results.map { $0.map { $0! } }
    }

    /// Beam search as transformers' _beam_search, all images' beams in one decoder batch; images
    /// whose search is over leave the batch.
    func beamSearch(firstLogits: Tensor, cache: BLIPKVCache, cross: BLIPCrossKV, prompt: [Int], maxLength: Int,
                    numBeams: Int, lengthPenalty: Float, earlyStopping: CaptionSettings.EarlyStopping,
                    settings: CaptionSettings) throws -> [[Caption]] {
        let nImages = firstLogits.rows, v = firstLogits.lastDim
        let sep = config.textConfig.sepTokenId
        var states = (0..<nImages).map { _ in
            BeamState(prompt: prompt, numBeams: numBeams, maxLength: maxLength, lengthPenalty: lengthPenalty, earlyStopping: earlyStopping)
        }
        var active = Array(0..<nImages)     // images whose rows are in the cache, numBeams rows each
        cache.select(active.flatMap { i in Array(repeating: i, count: numBeams) })
        var logits = Tensor(shape: [nImages * numBeams, v],
                            data: (0..<nImages).flatMap { i in (0..<numBeams).flatMap { _ in firstLogits.data[(i * v)..<((i + 1) * v)] } })
        while !active.isEmpty {
            var source: [Int] = []
            var stillActive: [Int] = []
            // Every beam's log-softmax and logits processors, rows spread over the threads.
            let beamRows = active.count * numBeams
            var raw = [[Float]](repeating: [], count: beamRows), processed = raw
            logits.data.withUnsafeBufferPointer { buf in
                raw.withUnsafeMutableBufferPointer { rawOut in
                    processed.withUnsafeMutableBufferPointer { procOut in
                        nonisolated(unsafe) let (buf, rawOut, procOut) = (buf, rawOut, procOut)
                        let states = states, active = active
                        Parallel.forEachRange(beamRows, minPerThread: 1) { range in
                            for r in range {
                                let i = active[r / numBeams], j = r % numBeams
                                let lp = LogitsProcessing.logSoftmax(UnsafeBufferPointer(rebasing: buf[(r * v)..<((r + 1) * v)]))
                                var p = lp
                                LogitsProcessing.repetitionPenalty(&p, previous: states[i].running[j].tokens, penalty: settings.repetitionPenalty)
                                LogitsProcessing.minNewTokens(&p, newTokens: states[i].running[j].tokens.count - prompt.count,
                                                              minNewTokens: settings.minNewTokens, eos: sep)
                                rawOut[r] = lp
                                procOut[r] = p
                            }
                        }
                    }
                }
            }
            for (slot, i) in active.enumerated() {
                let processed = Array(processed[(slot * numBeams)..<((slot + 1) * numBeams)])
                let raw = Array(raw[(slot * numBeams)..<((slot + 1) * numBeams)])
                let from = states[i].step(processed: processed, raw: raw, eos: sep)
                if !states[i].done {
                    stillActive.append(i)
                    source += from.map { slot * numBeams + $0 }
                }
            }
            active = stillActive
            if active.isEmpty { break }
            cache.select(source)
            let next = active.flatMap { i in states[i].running.map { $0.tokens.last! } }
            let h = try decoder(next, rows: next.count, tq: 1, cache: cache, causal: true,
                                cross: (cross, active.flatMap { Array(repeating: $0, count: numBeams) }))
            logits = head(h)
        }
        return states.map { s in
            s.finished.prefix(settings.numCaptions).map { makeCaption($0.tokens, score: $0.score, logProb: $0.logProb) }
        }
    }

    func makeCaption(_ tokens: [Int], score: Float, logProb: Float) -> Caption {
        Caption(text: tokenizer.decode(tokens, skipSpecialTokens: true), tokens: tokens, score: score, logProb: logProb)
    }

    /// torch.argmax: the first index of the maximum.
    static func argmax(_ x: [Float]) -> Int {
        var best = 0
        for i in 1..<x.count where x[i] > x[best] { best = i }
        return best
    }

    /// FNV-1a over the pixels and size, so a seed gives an image the same samples in any batch.
    static func contentHash(_ image: RGBImage) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) { h = (h ^ v) &* 0x0000_0100_0000_01b3 }
        mix(UInt64(image.width)); mix(UInt64(image.height))
        image.pixels.withUnsafeBytes { raw in
            var i = 0
            while i + 8 <= raw.count { mix(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)); i += 8 }
            while i < raw.count { mix(UInt64(raw[i])); i += 1 }
        }
        return h
    }
}

/// Opening a BLIP checkpoint folder, shared by the captioning and retrieval models.
enum BLIPFolder {
    static func open(_ directory: URL) throws -> (BLIPConfig, BertTokenizer, BLIPImageProcessor, WeightStore, String) {
        let folder = CheckpointFolder(directory)
        let config = try BLIPConfig.load(folder.configURL)
        try folder.requireWeights()
        let tokenizer = try BertTokenizer(directory: directory)
        if tokenizer.count > config.textConfig.vocabSize {
            throw BLIPError.invalidTokenizer(file: "vocab.txt",
                detail: "\(tokenizer.count) tokens do not fit the model's vocab_size \(config.textConfig.vocabSize)")
        }
        let processor = try BLIPImageProcessor(directory: directory)
        if processor.height != config.visionConfig.imageSize {
            throw BLIPError.invalidPreprocessor(file: "preprocessor_config.json",
                detail: "size \(processor.height) differs from the vision model's image_size \(config.visionConfig.imageSize)")
        }
        return (config, tokenizer, processor, try folder.weights(), try folder.modelID())
    }
}
