import ArgumentParser
import Foundation
import Demo

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Render a demo corpus with libavcodec: shape scenes as videos and stills, alt-texts, ground truth.",
        discussion: """
        Example:
          capfilt synth out/demo-media --videos 8 --images 4
        Writes videos/ (H.264 and MPEG-4 in MP4, MKV with AAC audio and SubRip subtitles, rotated files),
        images/ (JPEG, PNG, WebP), alt.jsonl (web texts, ~30% wrong on purpose), truth.jsonl (what each
        file shows and which web texts are noise), and a few hostile files unless --no-hostile.
        """
    )

    @Argument(help: "Folder to write into.") var output: String
    @Option(help: "Number of videos.") var videos = 8
    @Option(help: "Number of still images.") var images = 4
    @Option(help: "Seconds per video.") var seconds = 6.0
    @Option(help: "Share of web texts that are wrong (0…1).") var noise = 0.3
    @Option(help: "Random seed.") var seed: UInt64 = 7
    @Option(help: "Frame size, WIDTHxHEIGHT.") var size = "320x240"
    @Flag(inversion: .prefixedNo, help: "Add empty, non-media and truncated files.") var hostile = true

    func run() throws {
        var o = DemoCorpus.Options()
        let wh = size.split(separator: "x").compactMap { Int($0) }
        guard wh.count == 2, wh[0] >= 16, wh[1] >= 16, wh[0] % 2 == 0, wh[1] % 2 == 0 else {
            throw ValidationError("--size takes WIDTHxHEIGHT with even sides of at least 16, e.g. 320x240")
        }
        o.size = (wh[0], wh[1])
        o.videos = videos; o.images = images; o.seconds = seconds; o.noiseShare = noise; o.seed = seed; o.hostile = hostile
        let scenes = try DemoCorpus.write(to: URL(fileURLWithPath: output), options: o)
        print("wrote \(scenes.count) scenes\(hostile ? " and 3 hostile files" : "") to \(output)")
    }
}
