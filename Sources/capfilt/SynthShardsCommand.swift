import ArgumentParser
import Export
import Foundation
import Media

struct SynthShardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth-shards",
        abstract: "Write a generated dataset straight into shards (no models), to try export and serve at scale.",
        discussion: """
        Example:
          capfilt synth-shards out/big --sources 90000     # about a million candidate pairs
        Frames are small JPEGs of coloured patterns; texts are short phrases, some of them hostile markup;
        scores are random but seeded; one in 40 sources is an unreadable input.
        """,
        shouldDisplay: false
    )

    @Argument(help: "Output folder (shard-*.sqlite files are added).") var output: String
    @Option(help: "Number of sources.") var sources = 1000
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Frames per shard before a new one is started.") var shardFrames = 100_000

    func run() throws {
        let (w, h) = (96, 64)
        let encoder = try ImageEncoder(format: .jpeg, quality: 80)
        // A handful of distinct pictures reused across frames keeps a million-pair set to a few hundred MB.
        let frames = try (0..<24).map { k in
            try encoder.encode(RGBFrame(width: w, height: h) { x, y in
                let band = (x / 12 + y / 16 + k) % 3
                let base = UInt8(truncatingIfNeeded: 40 + k * 9)
                return band == 0 ? (base, UInt8(truncatingIfNeeded: x * 2), 180) : band == 1 ? (200, base, UInt8(truncatingIfNeeded: y * 3)) : (UInt8(truncatingIfNeeded: x + y), 160, base)
            })
        }
        var d = SyntheticDataset(sources: sources)
        d.seed = seed
        d.shardBudget = .init(maxMediaRows: shardFrames)
        let start = Date()
        try d.write(to: URL(fileURLWithPath: output), frames: frames, format: "jpeg", width: w, height: h) { n in
            FileHandle.standardError.write(Data("\rwrote \(n) of \(sources) sources".utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        print(String(format: "wrote %d sources, %d candidate pairs to %@ (%.1f s)", sources, d.pairs, output, Date().timeIntervalSince(start)))
    }
}
