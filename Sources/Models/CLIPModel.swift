// Port of transformers' modeling_clip.py CLIPModel (get_image_features / get_text_features /
// forward's normalisation and logits), loading a `model_type: clip` checkpoint folder unchanged:
// config.json, model.safetensors, vocab.json, merges.txt, preprocessor_config.json.
import Foundation
import Tensor

/// Immutable after `load`, so one instance may serve several threads. Each call spreads its
/// work over `BLAS.threads` threads (gemm inside OpenBLAS, row-wise ops and attention heads in
/// `Parallel`); a process running several models at once should lower `BLAS.setThreads`.
public final class CLIPModel: Sendable {
    public let config: CLIPConfig
    public let tokenizer: CLIPTokenizer
    public let processor: CLIPImageProcessor
    /// "<folder name>-<12 hex digits>": the hex digits are the FNV-1a 64-bit hash of config.json,
    /// the weights file's size and safetensors header, and a sample of its tensor bytes (the
    /// first and last 64 KiB and 64 blocks of 4 KiB spread evenly between). Folders with the same
    /// name but a different configuration or different (e.g. fine-tuned) weights get different
    /// ids, without hashing hundreds of MB at every load.
    public let modelID: String
    /// Images (and texts) per forward pass; larger batches make bigger, more efficient gemms.
    public let batchSize: Int
    /// exp(logit_scale), the factor between cosine similarity and logits.
    public let logitScale: Float
    /// The precision of the linear layers' products (`precision:` in a pipeline).
    public let precision: Precision

    let vision: CLIPVisionTransformer
    let text: CLIPTextTransformer
    let visualProjection: Linear
    let textProjection: Linear

    public var embeddingDimension: Int { config.projectionDim }

    init(config: CLIPConfig, tokenizer: CLIPTokenizer, processor: CLIPImageProcessor, weights: WeightStore,
         modelID: String, batchSize: Int, precision: Precision) throws {
        self.config = config
        self.tokenizer = tokenizer
        self.processor = processor
        self.modelID = modelID
        self.batchSize = batchSize
        self.precision = precision
        // Every CLIP layer is an encoder's over few rows (50 tokens an image, ~10 a text): fp32
        // weights in [in, out] (Linear.WeightLayout.inOut). Image embeddings at batch 1, four
        // alternating runs: 14.9–17.7/s against 11.7–13.1 as stored; batch 32 and texts +5 %.
        let vb = weights.root(precision: precision).with(layout: .inOut)
        vision = try CLIPVisionTransformer(vb.scope("vision_model"), config: config.visionConfig)
        text = try CLIPTextTransformer(vb.scope("text_model"), config: config.textConfig)
        visualProjection = try Linear(vb.scope("visual_projection"), inFeatures: config.visionConfig.hiddenSize,
                                      outFeatures: config.projectionDim, bias: false)
        textProjection = try Linear(vb.scope("text_projection"), inFeatures: config.textConfig.hiddenSize,
                                    outFeatures: config.projectionDim, bias: false)
        let scale = try vb.tensorAnyShape("logit_scale")
        guard scale.count == 1 else {
            throw WeightError.shapeMismatch(tensor: "logit_scale", expected: [], actual: scale.shape)
        }
        logitScale = expf(scale.data[0])
        try weights.assertAllUsed()
    }

    public static func load(directory: URL, batchSize: Int = 32, precision: Precision = .fp32) throws -> CLIPModel {
        let folder = CheckpointFolder(directory)
        let config = try CLIPConfig.load(folder.configURL)
        try folder.requireWeights()
        let tokenizer = try CLIPTokenizer(directory: directory, maxLength: min(77, config.textConfig.maxPositionEmbeddings))
        if let maxID = tokenizer.vocab.values.max(), maxID >= config.textConfig.vocabSize {
            throw CLIPError.invalidTokenizer(file: "vocab.json",
                detail: "token id \(maxID) is outside the model's vocab_size \(config.textConfig.vocabSize)")
        }
        let processor = try CLIPImageProcessor(directory: directory)
        return try CLIPModel(config: config, tokenizer: tokenizer, processor: processor, weights: try folder.weights(),
                             modelID: try folder.modelID() + precision.idSuffix, batchSize: batchSize, precision: precision)
    }

    // MARK: - Images

    /// pixel_values [B, 3, S, S] -> L2-normalised image embeddings [B, projection_dim].
    public func imageEmbeddings(pixelValues: Tensor) throws -> Tensor {
        Ops.l2NormalizeRows(visualProjection(try vision(pixelValues)))
    }

    /// L2-normalised projected image embeddings (CLIPModel.forward's image_embeds), computed in
    /// batches of `batchSize`.
    public func imageEmbeddings(_ images: [RGBImage]) throws -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(images.count)
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let batch = Array(images[start..<min(start + batchSize, images.count)])
            let pixels = try processor.preprocess(batch)
            let e = try imageEmbeddings(pixelValues: pixels)
            for r in 0..<e.rows { out.append(e.row(r)) }
        }
        return out
    }

    // MARK: - Texts

    /// L2-normalised projected text embeddings of already tokenised sequences (each with start
    /// and end tokens, as `tokenizer.encode` returns them).
    public func textEmbeddings(ids: [[Int]]) throws -> Tensor {
        for s in ids {
            guard !s.isEmpty, s.count <= config.textConfig.maxPositionEmbeddings,
                  s.allSatisfy({ $0 >= 0 && $0 < config.textConfig.vocabSize }) else {
                throw CLIPError.invalidInput("token sequence of length \(s.count) is empty, too long or has ids outside the vocabulary")
            }
        }
        return Ops.l2NormalizeRows(textProjection(text(ids)))
    }

    /// L2-normalised projected text embeddings (CLIPModel.forward's text_embeds), in batches of
    /// `batchSize` texts. A batch is packed, not padded (CLIPTextTransformer), so texts of very
    /// different lengths cost no more together than apart.
    public func textEmbeddings(_ texts: [String]) throws -> [[Float]] {
        let ids = texts.map { tokenizer.encode($0) }
        var out: [[Float]] = []
        out.reserveCapacity(texts.count)
        for start in stride(from: 0, to: ids.count, by: batchSize) {
            let e = try textEmbeddings(ids: Array(ids[start..<min(start + batchSize, ids.count)]))
            out += (0..<e.rows).map { e.row($0) }
        }
        return out
    }

    // MARK: - Similarity

    /// Cosine similarity; for the normalised embeddings above this is their dot product.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "cosine: dimensions \(a.count) and \(b.count) differ")
        var dot: Double = 0, na: Double = 0, nb: Double = 0
        for i in 0..<a.count {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        return Float(dot / (na.squareRoot() * nb.squareRoot()))
    }

    /// logits_per_image [images][texts] = exp(logit_scale) · image_embeds · text_embedsᵀ.
    public func logits(imageEmbeddings: [[Float]], textEmbeddings: [[Float]]) -> [[Float]] {
        guard !imageEmbeddings.isEmpty, !textEmbeddings.isEmpty else { return imageEmbeddings.map { _ in [] } }
        let d = config.projectionDim
        let img = Tensor(shape: [imageEmbeddings.count, d], data: imageEmbeddings.flatMap { $0 })
        let txt = Tensor(shape: [textEmbeddings.count, d], data: textEmbeddings.flatMap { $0 })
        var l = Ops.matmul(img, txt, transposeB: true)
        for i in 0..<l.data.count { l.data[i] *= logitScale }
        return (0..<l.rows).map { l.row($0) }
    }
}
