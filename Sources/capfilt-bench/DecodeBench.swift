import ArgumentParser
import Demo
import Foundation
import Media

/// Sparse sampling (one frame every 2 s from 30-fps H.264), frames to 224×224 RGB: capfilt's
/// in-process sampler against the `ffmpeg` CLI doing the same selection and scaling.
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode", abstract: "Frames kept per second: capfilt vs ffmpeg CLI.")

    @Option(help: "Seconds of test video.") var seconds = 120
    @Option(help: "Width of the test video (16:9).") var width = 1280
    @Option(help: "Keyframe interval in frames.") var gop = 60
    @Option(help: "Repetitions (the median is reported).") var repeats = 5
    @Option(help: "Sampling interval in seconds.") var every = 2.0
    @Option(help: "Path of the ffmpeg binary.") var ffmpeg = "/usr/bin/ffmpeg"

    func run() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capfilt-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let height = width * 9 / 16 / 2 * 2
        let path = dir.appendingPathComponent("bench.mp4").path
        let fps = 30
        print("making \(seconds) s of \(width)x\(height) \(fps)-fps H.264 (keyframe every \(gop) frames)…")
        // Moving gradients: real motion for the encoder, cheap to render.
        let base = RGBFrame(width: width, height: height) { x, y in (UInt8(x * 255 / width), UInt8(y * 255 / height), 128) }
        try SyntheticMedia.write(to: path, spec: MediaSpec(video: .init(codec: .h264, width: width, height: height, fps: fps,
                                                                        frames: seconds * fps, gop: gop, pixelFormat: "yuv420p"))) { i in
            var f = base
            let shift = (i * 4) % width
            for y in stride(from: 0, to: height, by: 8) { for x in 0..<16 { let o = (y * width + (x + shift) % width) * 3; f.pixels[o] = 255 } }
            return f
        }
        let expected = Int((Double(seconds) / every).rounded(.up))
        let resize = ResizePolicy.shortestSide(size: 224, centerCrop: true)

        func capfilt(seek: Bool) throws -> (Double, Int) {
            var kept = 0
            let t = try time {
                _ = try MediaDecoder.decode(path: path, options: DecodeOptions(sampling: .every(seconds: every), resize: resize, audio: nil,
                                                                               subtitles: false, allowSeeking: seek)) { _ in kept += 1 }
            }
            return (t, kept)
        }
        func cli(threads: Int?) throws -> Double {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: ffmpeg)
            var args = ["-v", "error", "-nostdin"]
            if let threads { args += ["-threads", String(threads)] }
            args += ["-i", path, "-vf", "fps=1/\(every),scale=224:224:force_original_aspect_ratio=increase:flags=bicubic,crop=224:224",
                     "-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null"]
            p.arguments = args
            return try time { try p.run(); p.waitUntilExit() }
        }
        guard FileManager.default.isExecutableFile(atPath: ffmpeg) else {
            throw ValidationError("\(ffmpeg) not found: `make deps` installs the ffmpeg package for benchmarks")
        }
        var rows: [(String, Double)] = []
        var keptCount = 0
        for (label, body) in [("capfilt (seek + skip, 1 thread)", { try capfilt(seek: true) }),
                              ("capfilt (no seek, skip non-ref, 1 thread)", { try capfilt(seek: false) })] as [(String, () throws -> (Double, Int))] {
            var ts: [Double] = []
            for _ in 0..<repeats { let (t, k) = try body(); ts.append(t); keptCount = k }
            rows.append((label, median(ts)))
        }
        for (label, threads) in [("ffmpeg CLI (-threads 1)", 1), ("ffmpeg CLI (default threads)", nil)] as [(String, Int?)] {
            var ts: [Double] = []
            for _ in 0..<repeats { ts.append(try cli(threads: threads)) }
            rows.append((label, median(ts)))
        }
        print("sampling every \(every) s → \(keptCount) frames kept (expected \(expected)), 224×224 RGB; median of \(repeats)")
        let reference = rows[3].1
        for (label, t) in rows {
            print("  " + label.padding(toLength: 44, withPad: " ", startingAt: 0)
                  + String(format: "%7.3f s  %8.1f frames kept/s  %5.2f× ffmpeg (default threads)", t, Double(keptCount) / t, reference / t))
        }
    }
}
