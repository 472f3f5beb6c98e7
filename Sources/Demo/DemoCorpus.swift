import Foundation
import Media
import Tensor

/// Renders a corpus of synthetic scenes with known ground truth: coloured shapes moving over a
/// background, as H.264/MPEG-4 videos (some with audio and subtitles, some rotated) and stills, plus
/// a web alt-text manifest in which a known share of texts is wrong. Deterministic for a seed.
public enum DemoCorpus {
    public struct Scene: Sendable, Codable, Equatable {
        public var shape: String
        public var color: String
        public var background: String
        public var motion: String
        public var count: Int
        /// What one picture shows: everything but the motion, which a single frame cannot tell.
        public var stillCaption: String {
            let noun = count == 1 ? shape : shape + "s"
            return "\(["", "a", "two", "three"][count]) \(color) \(noun) on a \(background) background"
        }
        public var caption: String {
            let noun = count == 1 ? shape : shape + "s"
            let number = ["", "a", "two", "three"][count]
            let moving = motion == "still" ? "" : " moving \(motion)"
            return "\(number) \(color) \(noun)\(moving) on a \(background) background"
        }
    }

    public struct Options: Sendable {
        public var videos = 8
        public var images = 4
        public var seconds = 6.0
        public var size = (width: 320, height: 240)
        public var noiseShare = 0.3
        public var hostile = true
        public var seed: UInt64 = 7
        public init() {}
    }

    static let colors: [String: (UInt8, UInt8, UInt8)] = [
        "red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (240, 220, 40),
        "purple": (140, 50, 180), "orange": (250, 140, 30), "white": (245, 245, 245), "black": (15, 15, 15),
    ]
    static let shapes = ["circle", "square", "triangle"]
    static let motions = ["left", "right", "up", "down", "still"]
    static let spam = ["buy cheap watches online", "click here for free prizes", "IMG_2041.JPG", "best deals 2026 limited offer",
                       "untitled", "download now"]

    /// Writes media, `alt.jsonl` (web texts) and `truth.jsonl` (what each file shows, and which texts are noise).
    @discardableResult
    public static func write(to dir: URL, options: Options = Options()) throws -> [String: Scene] {
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("videos"), withIntermediateDirectories: true)
        try fm.createDirectory(at: dir.appendingPathComponent("images"), withIntermediateDirectories: true)
        // One generator drives the whole corpus: the order of its draws below is what makes a seed's corpus.
        var rng = SplitMix64(seed: options.seed)
        var truth: [String: Scene] = [:]
        var alt: [[String: String]] = []
        var truthRows: [[String: Any]] = []
        for i in 0..<(options.videos + options.images) {
            let isVideo = i < options.videos
            let scene = randomScene(&rng, still: !isVideo)
            let name = isVideo ? "videos/scene-\(String(format: "%03d", i)).\(i % 3 == 2 ? "mkv" : "mp4")"
                               : "images/scene-\(String(format: "%03d", i)).\(["jpg", "png", "webp"][i % 3])"
            let path = dir.appendingPathComponent(name).path
            if isVideo {
                try writeVideo(scene, number: i, to: path, options: options)
            } else {
                // Stills catch the shapes anywhere along their path, as a frame of a video would.
                try writeStill(scene, number: i, at: rng.nextDouble(), to: path, options: options)
            }
            truth[name] = scene
            let web = webText(for: scene, &rng, noiseShare: options.noiseShare)
            let id = "web-\(i)"
            alt.append(["path": name, "text": web.text, "id": id])
            truthRows.append(["path": name, "caption": scene.caption, "still_caption": scene.stillCaption, "web_text_id": id, "web_text_noisy": web.noisy, "noise": web.noise,
                              "shape": scene.shape, "color": scene.color, "background": scene.background, "motion": scene.motion, "count": scene.count])
        }
        if options.hostile { try writeHostileFiles(in: dir) }
        try jsonl(alt).write(to: dir.appendingPathComponent("alt.jsonl"))
        try jsonl(truthRows).write(to: dir.appendingPathComponent("truth.jsonl"))
        return truth
    }

    /// H.264 or MPEG-4; every third one Matroska with AAC audio and SubRip subtitles; some MP4s rotated.
    static func writeVideo(_ scene: Scene, number i: Int, to path: String, options: Options) throws {
        let (w, h) = options.size
        let fps = 25
        let codec: MediaSpec.VideoCodec = i % 4 == 1 ? .mpeg4 : .h264
        var spec = MediaSpec(video: .init(codec: codec, width: w, height: h, fps: fps,
                                          frames: Int(options.seconds * Double(fps)), gop: 50,
                                          // FFmpeg 5.1's Matroska muxer drops the display matrix: only MP4 carries rotation.
                                          rotation: i % 5 == 4 && i % 3 != 2 ? 90 : 0,
                                          pixelFormat: "yuv420p"))
        if i % 3 == 2 {
            spec.audio = .init(codec: .aac, sampleRate: 44_100, channels: 2, duration: options.seconds)
            spec.subtitles = (codec: .subrip, cues: [SubtitleCue(start: 0.5, end: options.seconds / 2, text: "look: \(scene.caption)"),
                                                     SubtitleCue(start: options.seconds / 2, end: options.seconds - 0.5, text: "still \(scene.motion == "still" ? "resting" : "moving")")])
        }
        // A rotated file is stored sideways, as a phone would: the display matrix turns it upright.
        let rotated = spec.video!.encoding.rotation == 90
        if rotated { spec.video!.encoding.width = h; spec.video!.encoding.height = w }
        let frames = spec.video!.frames
        try SyntheticMedia.write(to: path, spec: spec, frame: { f in
            let img = render(scene, t: Double(f) / Double(max(1, frames - 1)), width: w, height: h)
            return rotated ? img.rotated(clockwise: 270) : img
        })
    }

    /// JPEG, PNG or WebP of the scene at time `t` of its path.
    static func writeStill(_ scene: Scene, number i: Int, at t: Double, to path: String, options: Options) throws {
        let format: ImageFormat = [.jpeg, .png, .webp][i % 3]
        let bytes = try ImageEncoder(format: format, quality: 92).encode(render(scene, t: t, width: options.size.width, height: options.size.height))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// One web text per file: right, or (noiseShare of the time) wrong in a known way.
    static func webText(for scene: Scene, _ rng: inout SplitMix64, noiseShare: Double) -> (text: String, noisy: Bool, noise: String) {
        guard rng.nextDouble() < noiseShare else { return (scene.caption, false, "none") }
        var text: String
        var noise: String
        switch rng.nextInt(below: 3) {
        case 0: var other = scene; other.color = pick(&rng, colors.keys.sorted().filter { $0 != scene.color && $0 != scene.background }); text = other.caption; noise = "attribute"
        case 1: text = randomScene(&rng, still: false).caption; noise = "other_scene"
        default: text = pick(&rng, spam); noise = "spam"
        }
        if text == scene.caption { text = pick(&rng, spam); noise = "spam" }
        return (text, true, noise)
    }

    /// Inputs a real corpus has: an empty file, a text file named .mp4, a video cut in half.
    static func writeHostileFiles(in dir: URL) throws {
        let bad = dir.appendingPathComponent("videos")
        try Data().write(to: bad.appendingPathComponent("empty.mp4"))
        try Data("this is not a video\n".utf8).write(to: bad.appendingPathComponent("notes.mp4"))
        let src = dir.appendingPathComponent("videos/scene-000.mp4").path
        if let data = FileManager.default.contents(atPath: src) {
            try data.prefix(data.count / 2).write(to: bad.appendingPathComponent("truncated.mp4"))
        }
    }

    static func jsonl(_ rows: [[String: Any]]) -> Data {
        let lines = rows.map { String(decoding: (try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys])) ?? Data(), as: UTF8.self) }
        return Data((lines.joined(separator: "\n") + "\n").utf8)
    }

    static func randomScene(_ rng: inout SplitMix64, still: Bool) -> Scene {
        let color = pick(&rng, colors.keys.sorted())
        let background = pick(&rng, colors.keys.sorted().filter { $0 != color })
        return Scene(shape: pick(&rng, shapes), color: color, background: background,
                     motion: still ? "still" : pick(&rng, motions), count: 1 + rng.nextInt(below: 3))
    }

    static func pick<T>(_ rng: inout SplitMix64, _ xs: [T]) -> T { xs[rng.nextInt(below: xs.count)] }

    /// The scene at time `t` (0…1 over the clip).
    public static func render(_ scene: Scene, t: Double, width: Int, height: Int) -> RGBFrame {
        let bg = colors[scene.background]!, fg = colors[scene.color]!
        let r = Double(min(width, height)) * 0.12
        let travel = Double(min(width, height)) * 0.25
        var centres: [(Double, Double)] = []
        for k in 0..<scene.count {
            var x = Double(width) * (Double(k) + 1) / Double(scene.count + 1)
            var y = Double(height) / 2
            let d = (t - 0.5) * 2 * travel
            switch scene.motion {
            case "left": x -= d
            case "right": x += d
            case "up": y -= d
            case "down": y += d
            default: break
            }
            centres.append((x, y))
        }
        return RGBFrame(width: width, height: height) { px, py in
            let x = Double(px) + 0.5, y = Double(py) + 0.5
            for (cx, cy) in centres {
                let dx = x - cx, dy = y - cy
                let inside: Bool
                switch scene.shape {
                case "circle": inside = dx * dx + dy * dy <= r * r
                case "square": inside = abs(dx) <= r * 0.9 && abs(dy) <= r * 0.9
                default: inside = dy <= r * 0.8 && dy >= -r && abs(dx) <= (dy + r) * 0.6
                }
                if inside { return fg }
            }
            return bg
        }
    }
}
