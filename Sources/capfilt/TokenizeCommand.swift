// `capfilt tokenize`: token ids of a text with a CLIP (BPE) or BLIP/BERT (WordPiece) tokenizer.
import ArgumentParser
import Foundation
import Models

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids (and tokens) of a text as JSON, for CLIP or BLIP/BERT checkpoint folders.",
        discussion: """
        A folder with vocab.json and merges.txt is CLIP's byte-level BPE: the ids equal transformers' \
        CLIPTokenizer with truncation to 77 tokens (<|startoftext|>, at most 75 text tokens, <|endoftext|>). \
        A folder with vocab.txt is BERT WordPiece, as BLIP uses it: the ids equal BertTokenizer's \
        input_ids ([CLS] tokens [SEP]), without padding or truncation.

        Example:
          capfilt tokenize --model models/clip-vit-base-patch32 "A photo of a cat."
          capfilt tokenize --model models/demo-blip-itm "A photo of a cat."
        """)

    @Option(name: .long, help: "CLIP or BLIP checkpoint folder (only the tokenizer files are read).")
    var model: String

    @Argument(help: "The text to tokenize.")
    var text: String

    struct Output: Encodable {
        var tokenizer: String
        var ids: [Int]
        var tokens: [String]
    }

    func run() throws {
        let folder = URL(fileURLWithPath: model)
        let has = { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
        if has("vocab.json") {
            let tokenizer = try CLIPTokenizer(directory: folder)
            let ids = tokenizer.encode(text)
            try printJSON(Output(tokenizer: "clip-bpe", ids: ids, tokens: ids.map { tokenizer.token(for: $0) ?? "?" }))
        } else if has("vocab.txt") {
            let tokenizer = try BertTokenizer(directory: folder)
            let ids = tokenizer.encode(text)
            try printJSON(Output(tokenizer: "bert-wordpiece", ids: ids, tokens: ids.map { tokenizer.idToToken[$0] ?? "?" }))
        } else {
            throw ValidationError("\(model) has neither vocab.json + merges.txt (CLIP) nor vocab.txt (BLIP/BERT)")
        }
    }
}
