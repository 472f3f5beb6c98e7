// `capfilt tokenize`: CLIP BPE token ids of a text.
import ArgumentParser
import Foundation
import Models

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the CLIP token ids (and tokens) of a text as JSON.",
        discussion: """
        Uses the checkpoint's vocab.json and merges.txt. The ids equal transformers' CLIPTokenizer \
        with truncation to 77 tokens: <|startoftext|>, at most 75 text tokens, <|endoftext|>.

        Example:
          capfilt tokenize --model models/clip-vit-base-patch32 "A photo of a cat."
        """)

    @Option(name: .long, help: "CLIP checkpoint folder (only the tokenizer files are read).")
    var model: String

    @Argument(help: "The text to tokenize.")
    var text: String

    struct Output: Encodable {
        var ids: [Int]
        var tokens: [String]
    }

    func run() throws {
        let tokenizer = try CLIPTokenizer(directory: URL(fileURLWithPath: model))
        let ids = tokenizer.encode(text)
        try printJSON(Output(ids: ids, tokens: ids.map { tokenizer.token(for: $0) ?? "?" }))
    }
}
