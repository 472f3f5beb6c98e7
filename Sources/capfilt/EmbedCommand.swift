// `capfilt embed`: CLIP image and/or text embeddings as JSON.
import ArgumentParser
import Foundation
import Models
import Tensor

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print L2-normalised CLIP embeddings of images and/or texts as JSON.",
        discussion: """
        Loads a transformers CLIP checkpoint folder (config.json, model.safetensors, vocab.json, \
        merges.txt, preprocessor_config.json) and prints one embedding per input, in input order. \
        The values equal transformers' CLIPModel image_embeds / text_embeds (within 1e-4).

        Example:
          capfilt embed --model models/clip-vit-base-patch32 cat.jpg dog.png --text "a cat" --text "a dog"
        """)

    @Option(name: .long, help: "CLIP checkpoint folder.")
    var model: String

    @Option(name: .long, help: "A text to embed (repeatable).")
    var text: [String] = []

    @Option(name: .long, help: "OpenBLAS threads (default: OpenBLAS's own choice).")
    var threads: Int?

    @Option(name: .long, help: "Images or texts per forward pass.")
    var batchSize: Int = 32

    @Argument(help: "Image files to embed.")
    var images: [String] = []

    func validate() throws {
        if images.isEmpty && text.isEmpty { throw ValidationError("give at least one IMAGE or --text") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    struct Output: Encodable {
        struct Item: Encodable {
            var image: String?
            var text: String?
            var embedding: [Float]
        }
        var model: String
        var dimension: Int
        var images: [Item]
        var texts: [Item]
    }

    @Option(name: .long, help: "Precision of the linear layers: fp32, or bf16 (oneDNN; about 2× faster, scores differ by ~1e-3).")
    var precision: Precision = .fp32

    func run() throws {
        if let threads { BLAS.setThreads(threads) }
        let clip = try CLIPModel.load(directory: URL(fileURLWithPath: model), batchSize: batchSize, precision: precision)
        let decoded = try images.map { try loadRGBImage(path: $0) }
        let imageEmbeds = try clip.imageEmbeddings(decoded)
        let textEmbeds = try clip.textEmbeddings(text)
        let out = Output(
            model: clip.modelID, dimension: clip.embeddingDimension,
            images: zip(images, imageEmbeds).map { .init(image: $0, embedding: $1) },
            texts: zip(text, textEmbeds).map { .init(text: $0, embedding: $1) })
        try printJSON(out)
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value))
    FileHandle.standardOutput.write(Data("\n".utf8))
}
