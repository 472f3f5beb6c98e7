// TEMPORARY (clip branch): registers the CLIP benchmark; main owns this file at merge.
import ArgumentParser

struct CapfiltBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capfilt-bench", subcommands: [ClipBench.self, BlipBench.self])
}

CapfiltBench.main()
