// `capfilt caption`: BLIP captions of images (greedy, beam search or nucleus sampling).
import ArgumentParser
import Foundation
import Models
import Tensor

struct CaptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption",
        abstract: "Caption images with a BLIP captioning checkpoint.",
        discussion: """
        Loads a transformers BlipForConditionalGeneration folder (config.json, model.safetensors, \
        vocab.txt, tokenizer_config.json, preprocessor_config.json) and prints each image's captions, \
        one per line after the image path, or as JSON with --json. Greedy and beam search give the \
        tokens transformers' generate() gives; nucleus samples are reproducible for a --seed.

        Examples:
          capfilt caption --model models/blip-image-captioning-base frame1.jpg frame2.jpg
          capfilt caption --model models/blip-image-captioning-base --strategy beam --num-beams 3 --num-captions 3 frame.jpg
          capfilt caption --model models/blip-image-captioning-base --strategy nucleus --top-p 0.9 \\
            --num-captions 5 --seed 7 --prompt "a picture of" frame.jpg
        """)

    enum Strategy: String, ExpressibleByArgument, CaseIterable { case greedy, beam, nucleus }

    @Option(name: .long, help: "BLIP captioning checkpoint folder.")
    var model: String

    @Option(name: .long, help: "Decoding strategy: greedy, beam or nucleus.")
    var strategy: Strategy = .greedy

    @Option(name: .long, help: "Beams for --strategy beam.")
    var numBeams: Int = 3

    @Option(name: .long, help: "Length penalty for --strategy beam (score / length^penalty).")
    var lengthPenalty: Float = 1

    @Option(name: .long, help: "Early stopping for --strategy beam: heuristic (transformers' False), whenFull (True) or never.")
    var earlyStopping: String = "heuristic"

    @Option(name: .long, help: "Nucleus probability mass for --strategy nucleus.")
    var topP: Float = 0.9

    @Option(name: .long, help: "Top-k filter for --strategy nucleus (0: off; 50 is generate()'s default).")
    var topK: Int = 50

    @Option(name: .long, help: "Sampling temperature for --strategy nucleus.")
    var temperature: Float = 1

    @Option(name: .long, help: "Repetition penalty (1: off).")
    var repetitionPenalty: Float = 1

    @Option(name: .long, help: "Captions per image (beam: at most --num-beams; greedy: 1).")
    var numCaptions: Int = 1

    @Option(name: .long, help: "Seed for nucleus sampling.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Text the captions continue, e.g. \"a picture of\".")
    var prompt: String?

    @Option(name: .long, help: "Minimum new tokens before [SEP] is allowed.")
    var minNewTokens: Int = 0

    @Option(name: .long, help: "Maximum new tokens per caption.")
    var maxNewTokens: Int = 20

    @Option(name: .long, help: "OpenBLAS threads (default: OpenBLAS's own choice).")
    var threads: Int?

    @Option(name: .long, help: "Images per batch.")
    var batchSize: Int = 8

    @Flag(name: .long, help: "Print JSON (model, settings, captions with tokens and scores).")
    var json = false

    @Argument(help: "Image files.")
    var images: [String] = []

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one IMAGE") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if CaptionSettings.EarlyStopping(rawValue: earlyStopping) == nil {
            throw ValidationError("--early-stopping must be heuristic, whenFull or never")
        }
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
    }

    var settings: CaptionSettings {
        let s: CaptionSettings.Strategy
        switch strategy {
        case .greedy: s = .greedy
        case .beam: s = .beam(numBeams: numBeams, lengthPenalty: lengthPenalty,
                              earlyStopping: CaptionSettings.EarlyStopping(rawValue: earlyStopping) ?? .heuristic)
        case .nucleus: s = .nucleus(topP: topP, topK: topK, temperature: temperature)
        }
        return CaptionSettings(strategy: s, repetitionPenalty: repetitionPenalty, minNewTokens: minNewTokens,
                               maxNewTokens: maxNewTokens, prompt: prompt, numCaptions: numCaptions, seed: seed)
    }

    struct Output: Encodable {
        struct Item: Encodable {
            var image: String
            var captions: [Caption]
        }
        var model: String
        var settings: CaptionSettings
        var results: [Item]
    }

    @Option(name: .long, help: "Precision of the linear layers: fp32, or bf16 (oneDNN; about 2× faster, scores differ by ~1e-3).")
    var precision: Precision = .fp32

    func run() throws {
        if let threads { BLAS.setThreads(threads) }
        let blip = try BLIPCaptioner.load(directory: URL(fileURLWithPath: model), batchSize: batchSize, precision: precision)
        let decoded = try images.map { try loadRGBImage(path: $0) }
        let captions = try blip.caption(decoded, settings: settings)
        if json {
            try printJSON(Output(model: blip.modelID, settings: settings,
                                 results: zip(images, captions).map { Output.Item(image: $0, captions: $1) }))
        } else {
            for (path, cs) in zip(images, captions) {
                for c in cs { print("\(path)\t\(c.text)") }
            }
        }
    }
}
