import ArgumentParser
import Foundation
import Media

struct FramesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frames",
        abstract: "Print the timestamps a sampling spec selects from a media file (no pixels are converted).",
        discussion: """
        Example:
          capfilt frames clip.mp4 --sample "every 2s"
          capfilt frames clip.mp4 --sample "scene 0.3 gap 1s" --max-frames 20
        Specs: every <seconds>, fps <rate>, keyframes, uniform <count>, scene <threshold> [gap <seconds>].
        """
    )

    @Argument(help: "A video or image file.") var media: String
    @Option(help: "Sampling spec, e.g. 'every 2s', 'fps 1', 'keyframes', 'uniform 8', 'scene 0.3'.") var sample = "every 1s"
    @Option(help: "Stop after this many frames.") var maxFrames: Int?
    @Flag(help: "Decode every frame instead of seeking with the container index.") var noSeek = false

    func run() throws {
        let spec: SamplingSpec
        do { spec = try SamplingSpec.parse(sample) } catch { throw ValidationError("\(error)") }
        let probe = try MediaDecoder.probe(path: media)
        print("# \(media): \(probe.kind.rawValue), \(probe.container), \(probe.videoCodec ?? "-"), \(probe.width)x\(probe.height), "
              + "\(String(format: "%.3f", probe.frameRate)) fps, duration \(probe.duration.map { String(format: "%.3f s", $0) } ?? "unknown"), rotation \(probe.rotation)")
        print("# sampling: \(spec)")
        print("index\ttime_s\tkeyframe\tscene_score")
        let options = DecodeOptions(sampling: spec, maxFrames: maxFrames, audio: nil, subtitles: false, convertPixels: false, allowSeeking: !noSeek)
        let result = try MediaDecoder.decode(path: media, options: options) { f in
            print("\(f.index)\t\(String(format: "%.3f", f.time))\t\(f.isKeyframe ? 1 : 0)\t\(f.sceneScore.map { String(format: "%.3f", $0) } ?? "")")
        }
        let s = result.stats
        print("# \(result.frameTimes.count) frames selected; \(s.framesDecoded) decoded, \(s.packetsRead) packets read, \(s.seeks) seeks (index: \(s.indexedKeyframes) keyframes)"
              + (s.corruptPackets > 0 ? ", \(s.corruptPackets) corrupt packets skipped" : ""))
    }
}
