// TEMPORARY (clip branch): registers the CLIP commands for testing; main owns this file at merge.
import ArgumentParser

struct Capfilt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capfilt",
        abstract: "Build curated multimodal training datasets.",
        subcommands: [EmbedCommand.self, ScoreCommand.self, TokenizeCommand.self, CaptionCommand.self])
}

Capfilt.main()
