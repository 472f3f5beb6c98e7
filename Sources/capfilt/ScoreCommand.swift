// `capfilt score`: CLIP similarity of one image to several texts.
import ArgumentParser
import Foundation
import Models
import Tensor

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score an image against texts with CLIP (cosine, logit, softmax probability) as JSON.",
        discussion: """
        cosine is the cosine similarity of the normalised embeddings, logit is cosine × exp(logit_scale) \
        (transformers' logits_per_image), probability is the softmax of the logits over the given texts.

        Example:
          capfilt score --model models/clip-vit-base-patch32 frame.jpg "a cat on a sofa" "a dog in a park"
        """)

    @Option(name: .long, help: "CLIP checkpoint folder.")
    var model: String

    @OptionGroup var pair: ImagePairArguments

    struct Output: Encodable {
        struct Score: Encodable {
            var text: String
            var cosine: Float
            var logit: Float
            var probability: Float
        }
        var model: String
        var image: String
        var scores: [Score]
    }

    @Option(name: .long, help: "Precision of the linear layers: fp32, or bf16 (oneDNN; about 2× faster, scores differ by ~1e-3).")
    var precision: Precision = .fp32

    func run() throws {
        if let threads = pair.threads { BLAS.setThreads(threads) }
        let (image, texts) = (pair.image, pair.texts)
        let clip = try CLIPModel.load(directory: URL(fileURLWithPath: model), precision: precision)
        let imageEmbed = try clip.imageEmbeddings([try loadRGBImage(path: image)])
        let textEmbeds = try clip.textEmbeddings(texts)
        let logits = clip.logits(imageEmbeddings: imageEmbed, textEmbeddings: textEmbeds)[0]
        let probabilities = Ops.softmax(Tensor(shape: [logits.count], data: logits)).data
        let scores = texts.indices.map { i in
            Output.Score(text: texts[i], cosine: CLIPModel.cosine(imageEmbed[0], textEmbeds[i]),
                         logit: logits[i], probability: probabilities[i])
        }
        try printJSON(Output(model: clip.modelID, image: image, scores: scores))
    }
}
