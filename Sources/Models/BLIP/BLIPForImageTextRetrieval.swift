// Port of transformers' modeling_blip.py BlipForImageTextRetrieval: ITM (use_itm_head=True, the
// text encoder cross-attending to the image, softmax of itm_head on the [CLS] state) and ITC
// (use_itm_head=False, cosine of the normalised vision_proj / text_proj features). Loads a
// `model_type: blip` retrieval folder unchanged (e.g. Salesforce/blip-itm-base-coco).
import Foundation
import Tensor

/// Immutable after `load`, so one instance may serve several threads.
public final class BLIPRetrieval: Sendable {
    public let config: BLIPConfig
    public let tokenizer: BertTokenizer
    public let processor: BLIPImageProcessor
    /// "<folder name>-<12 hex digits>", as BLIPCaptioner.modelID and CLIPModel.modelID.
    public let modelID: String
    public let batchSize: Int
    /// The precision of the linear layers' products (`precision:` in a pipeline).
    public let precision: Precision

    let vision: BLIPVisionModel
    let textEncoder: BLIPTextModel
    let visionProj: Linear
    let textProj: Linear
    let itmHead: Linear

    init(config: BLIPConfig, tokenizer: BertTokenizer, processor: BLIPImageProcessor, weights: WeightStore,
         modelID: String, batchSize: Int, precision: Precision) throws {
        self.config = config
        self.tokenizer = tokenizer
        self.processor = processor
        self.modelID = modelID
        self.batchSize = batchSize
        self.precision = precision
        let vb = weights.root(precision: precision)
        let t = config.textConfig, v = config.visionConfig
        guard t.isDecoder else {
            throw BLIPError.invalidConfig(file: "config.json", detail: "text_config.is_decoder is false: ITM needs the cross-attention layers")
        }
        vision = try BLIPVisionModel(vb.scope("vision_model"), config: v)
        textEncoder = try BLIPTextModel(vb.scope("text_encoder"), config: t)
        visionProj = try Linear(vb.scope("vision_proj"), inFeatures: v.hiddenSize, outFeatures: config.imageTextHiddenSize)
        textProj = try Linear(vb.scope("text_proj"), inFeatures: t.hiddenSize, outFeatures: config.imageTextHiddenSize)
        itmHead = try Linear(vb.scope("itm_head"), inFeatures: t.hiddenSize, outFeatures: 2)
        try weights.assertAllUsed()
    }

    public static func load(directory: URL, batchSize: Int = 8, precision: Precision = .fp32) throws -> BLIPRetrieval {
        let (config, tokenizer, processor, weights, id) = try BLIPFolder.open(directory)
        return try BLIPRetrieval(config: config, tokenizer: tokenizer, processor: processor, weights: weights,
                                 modelID: id + precision.idSuffix, batchSize: max(1, batchSize), precision: precision)
    }

    /// The texts' ids as BlipProcessor(text=...) gives them, packed back to back: the padding that
    /// padding=True adds is never attended to, so it is left out rather than computed.
    func encodeTexts(_ texts: [String]) throws -> PackedSequences {
        let encoded = texts.map { tokenizer.encode($0) }
        let tq = encoded.map(\.count).max() ?? 0
        guard tq <= config.textConfig.maxPositionEmbeddings else {
            throw BLIPError.invalidInput("text of \(tq) tokens exceeds max_position_embeddings \(config.textConfig.maxPositionEmbeddings)")
        }
        return PackedSequences(encoded)
    }

    /// Probability that each text matches its image: softmax(itm_head(text_encoder(text, image)[CLS]))[1].
    /// Each image is encoded once; in every layer its cross-attention keys/values are projected
    /// once and serve all of its texts, which go through the text encoder as one batch.
    public func itm(_ images: [RGBImage], texts: [[String]]) throws -> [[Float]] {
        guard images.count == texts.count else { throw BLIPError.invalidInput("itm: \(images.count) images but \(texts.count) text lists") }
        var out: [[Float]] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let range = start..<min(start + batchSize, images.count)
            let pixels = try processor.preprocess(Array(images[range]))
            out += try itm(pixelValues: pixels, texts: Array(texts[range]))
        }
        return out
    }

    public func itm(pixelValues: Tensor, texts: [[String]]) throws -> [[Float]] {
        try itm(imageHidden: try vision(pixelValues), texts: texts)
    }

    /// The vision tower's last_hidden_state for a batch of images, which ITM's cross-attention and
    /// ITC's vision_proj read: lets a caller (the bench) score text lists against images encoded once.
    public struct ImageEncoding: Sendable {
        let hidden: Tensor
        public let count: Int
    }

    public func encodeImages(pixelValues: Tensor) throws -> ImageEncoding {
        ImageEncoding(hidden: try vision(pixelValues), count: pixelValues.shape[0])
    }

    /// ITM of each encoded image with its own texts (texts.count == images.count).
    public func itm(_ images: ImageEncoding, texts: [[String]]) throws -> [[Float]] {
        guard images.count == texts.count else { throw BLIPError.invalidInput("itm: \(images.count) images but \(texts.count) text lists") }
        return try itm(imageHidden: images.hidden, texts: texts)
    }

    /// ITM and ITC together: one preprocessing and one vision pass per image serve both (the CapFilt
    /// filter stores both).
    public func itmAndITC(_ images: [RGBImage], texts: [[String]]) throws -> (itm: [[Float]], itc: [[Float]]) {
        guard images.count == texts.count else { throw BLIPError.invalidInput("itm: \(images.count) images but \(texts.count) text lists") }
        var itm: [[Float]] = [], itc: [[Float]] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let range = start..<min(start + batchSize, images.count)
            let hidden = try vision(try processor.preprocess(Array(images[range])))
            itm += try self.itm(imageHidden: hidden, texts: Array(texts[range]))
            itc += try self.itc(imageFeatures: imageFeatures(hidden: hidden, rows: range.count), texts: Array(texts[range]))
        }
        return (itm, itc)
    }

    /// text_encoder(input_ids, encoder_hidden_states=image) of every image with its own texts,
    /// then the ITM head on each [CLS] state. transformers repeats an image per text (one
    /// pixel_values row per pair); here all texts of all images are one packed batch, image i's
    /// texts consecutive, so that each layer projects image i's keys/values once and attends to
    /// them with all of its texts' queries in one segment.
    func itm(imageHidden image: Tensor, texts: [[String]]) throws -> [[Float]] {
        let flat = texts.flatMap { $0 }
        guard !flat.isEmpty else { return texts.map { _ in [] } }
        var first = 0
        let textsOfImage = texts.map { ts in
            defer { first += ts.count }
            return first..<(first + ts.count)
        }
        let context = BLIPImageContext(hidden: image, tokens: vision.tokens, textsOfImage: textsOfImage)
        let cls = try textEncoder.encode(try encodeTexts(flat), image: context, firstTokensOnly: true)
        let logits = itmHead(cls)
        var probabilities = (0..<flat.count).map { LogitsProcessing.softmax(logits.row($0))[1] }
        return texts.map { t in
            let p = Array(probabilities.prefix(t.count))
            probabilities.removeFirst(t.count)
            return p
        }
    }

    /// Cosine of normalize(vision_proj(image [CLS])) and normalize(text_proj(text [CLS])), the text
    /// encoded without the image (use_itm_head=False). Each image and each text is encoded once.
    public func itc(_ images: [RGBImage], texts: [[String]]) throws -> [[Float]] {
        guard images.count == texts.count else { throw BLIPError.invalidInput("itc: \(images.count) images but \(texts.count) text lists") }
        var out: [[Float]] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let range = start..<min(start + batchSize, images.count)
            let pixels = try processor.preprocess(Array(images[range]))
            out += try itc(pixelValues: pixels, texts: Array(texts[range]))
        }
        return out
    }

    public func itc(pixelValues: Tensor, texts: [[String]]) throws -> [[Float]] {
        try itc(imageFeatures: try imageFeatures(pixelValues: pixelValues), texts: texts)
    }

    func itc(imageFeatures: Tensor, texts: [[String]]) throws -> [[Float]] {
        let unique = Array(Set(texts.flatMap { $0 })).sorted()
        guard !unique.isEmpty else { return texts.map { _ in [] } }
        let textFeatures = try self.textFeatures(unique)
        let index = Dictionary(uniqueKeysWithValues: unique.enumerated().map { ($1, $0) })
        return texts.enumerated().map { i, ts in
            ts.map { t in zip(imageFeatures.row(i), textFeatures.row(index[t]!)).reduce(0) { $0 + $1.0 * $1.1 } }
        }
    }

    /// normalize(vision_proj(last_hidden_state[:, 0])), [B, image_text_hidden_size]; normalize is
    /// torch.nn.functional.normalize, x / max(‖x‖, 1e-12).
    public func imageFeatures(pixelValues: Tensor) throws -> Tensor {
        imageFeatures(hidden: try vision(pixelValues), rows: pixelValues.shape[0])
    }

    func imageFeatures(hidden h: Tensor, rows: Int) -> Tensor {
        Ops.l2NormalizeRows(visionProj(firstTokens(h, rows: rows, tq: vision.tokens)), eps: 1e-12)
    }

    /// normalize(text_proj(text_encoder(text)[:, 0])), [texts, image_text_hidden_size].
    public func textFeatures(_ texts: [String]) throws -> Tensor {
        let cls = try textEncoder.encode(try encodeTexts(texts), image: nil, firstTokensOnly: true)
        return Ops.l2NormalizeRows(textProj(cls), eps: 1e-12)
    }

    func firstTokens(_ h: Tensor, rows: Int, tq: Int) -> Tensor {
        let d = h.lastDim
        return Tensor(shape: [rows, d], data: (0..<rows).flatMap { h.data[($0 * tq * d)..<(($0 * tq + 1) * d)] })
    }
}
