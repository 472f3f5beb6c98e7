// `capfilt match`: BLIP image-text matching (ITM probability and ITC cosine) of one image and texts.
import ArgumentParser
import Foundation
import Models
import Tensor

struct MatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract: "Score an image against texts with a BLIP retrieval (ITM) model: ITM probability and ITC cosine, as JSON.",
        discussion: """
        itm is P(match) = softmax(itm_head(text encoder over the image))[1], what the CapFilt filter \
        stage thresholds (0.5 in the BLIP paper); itc is the cosine of the projected image and text \
        features (use_itm_head=False). Both equal transformers' BlipForImageTextRetrieval within 1e-4.

        Example:
          capfilt match --model models/demo-blip-itm frame.jpg "a cat on a sofa" "a dog in a park"
        """)

    @Option(name: .long, help: "BLIP retrieval checkpoint folder (BlipForImageTextRetrieval).")
    var model: String

    @OptionGroup var pair: ImagePairArguments

    struct Output: Encodable {
        struct Score: Encodable {
            var text: String
            var itm: Float
            var itc: Float
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
        let blip = try BLIPRetrieval.load(directory: URL(fileURLWithPath: model), precision: precision)
        let (itm, itc) = try blip.itmAndITC([try loadRGBImage(path: image)], texts: [texts])
        let scores = texts.indices.map { Output.Score(text: texts[$0], itm: itm[0][$0], itc: itc[0][$0]) }
        try printJSON(Output(model: blip.modelID, image: image, scores: scores))
    }
}
