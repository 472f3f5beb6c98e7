import Foundation
import Media

/// The pipeline's `stage: decode` settings: how the reader samples frames with libavcodec, encodes them
/// for storage, cuts audio into 16 kHz mono segments aligned to the frames, and reads subtitle cues.
/// Decoding is not a model stage: every input passes through the reader first (`MediaReader`), and a
/// rerun that only changed later stages reuses its stored output.
public struct DecodeConfig: Sendable {
    public static let typeName = "decode"
    public static let keys = ["sample", "max_frames", "resize", "image_format", "quality", "audio", "subtitles", "seek",
                              "video_stream", "audio_stream", "subtitle_streams"]
    public static let summary = "sample video frames (every/fps/keyframes/uniform/scene), resize, audio segments, subtitle cues"

    public var name: String
    public var options: DecodeOptions
    public var imageFormat: ImageFormat
    public var quality: Int
    /// Which kept frames a subtitle cue pairs with (`subtitles: {pair: overlap|nearest}`).
    public var subtitlePairing: SubtitlePairing

    public init(name: String = typeName, options: DecodeOptions, imageFormat: ImageFormat = .jpeg, quality: Int = 90,
                subtitlePairing: SubtitlePairing = .overlap) {
        self.name = name
        self.options = options
        self.imageFormat = imageFormat
        self.quality = quality
        self.subtitlePairing = subtitlePairing
    }

    init(node: SpecNode) throws {
        let config = try node.mapping(allowed: ["stage", "name"] + DecodeConfig.keys)
        var options = DecodeOptions()
        if let s = config["sample"] { options.sampling = try DecodeConfig.sampling(s) }
        if let m = config["max_frames"] { options.maxFrames = try m.int(min: 1) }
        if let r = config["resize"] { options.resize = try DecodeConfig.resize(r) }
        if let a = config["audio"] { options.audio = try DecodeConfig.audio(a) }
        var pairing = SubtitlePairing.overlap
        if let s = config["subtitles"] {
            if s.isScalar { options.subtitles = try s.bool() } else {
                let m = try s.mapping(allowed: ["pair"])
                options.subtitles = true
                pairing = try m["pair"].map { SubtitlePairing(rawValue: try $0.oneOf(SubtitlePairing.allCases.map(\.rawValue)))! } ?? .overlap
            }
        }
        if let s = config["seek"] { options.allowSeeking = try s.bool() }
        options.videoStream = try config["video_stream"].map(DecodeConfig.stream)
        options.audioStream = try config["audio_stream"].map(DecodeConfig.stream)
        if let s = config["subtitle_streams"] {
            options.subtitleStreams = s.isScalar && (try? s.string()) == "all" ? nil : try (s.isScalar ? [s] : try s.list()).map(DecodeConfig.stream)
        }
        let format = try config["image_format"].map { ImageFormat(rawValue: try $0.oneOf(ImageFormat.allCases.map(\.rawValue)))! } ?? .jpeg
        let quality = try config["quality"]?.int(min: 1, max: 100) ?? 90
        self.init(name: try config["name"]?.string() ?? DecodeConfig.typeName, options: options, imageFormat: format, quality: quality,
                  subtitlePairing: pairing)
    }

    static func sampling(_ node: SpecNode) throws -> SamplingSpec {
        if node.isScalar {
            do { return try SamplingSpec.parse(try node.string()) } catch let e as SamplingError { throw node.error(e.description) }
        }
        let m = try node.mapping(allowed: ["every", "fps", "keyframes", "uniform", "scene", "min_gap"])
        let modes = m.order.filter { $0 != "min_gap" }
        guard modes.count == 1 else {
            throw node.error("\(node.path) takes exactly one of: every, fps, keyframes, uniform, scene")
        }
        switch modes[0] {
        case "every": return .every(seconds: try m["every"]!.double(min: 0.001))
        case "fps": return .fps(try m["fps"]!.double(min: 0.001))
        case "keyframes":
            guard try m["keyframes"]!.bool() else { throw m["keyframes"]!.error("keyframes: false selects nothing; choose another mode") }
            return .keyframes
        case "uniform": return .uniform(count: try m["uniform"]!.int(min: 1))
        default:
            return .scene(threshold: try m["scene"]!.double(min: 0.0001, max: 1), minGap: try m["min_gap"]?.double(min: 0) ?? 0)
        }
    }

    /// A stream index in the file (0, 1, …) or a language tag ("eng").
    static func stream(_ node: SpecNode) throws -> StreamChoice {
        let text = try node.string()
        if let i = Int(text) {
            guard i >= 0 else { throw node.error("\(node.path) must be a stream index ≥ 0 or a language tag; found \(i)") }
            return .index(i)
        }
        guard !text.isEmpty, text.allSatisfy(\.isLetter) else {
            throw node.error("\(node.path) must be a stream index (0, 1, …) or a language tag such as 'eng'; found '\(text)'")
        }
        return .language(text)
    }

    static func resize(_ node: SpecNode) throws -> ResizePolicy {
        let forms = "none, {shortest: N, crop: center|none} or {fit: N | [width, height]}"
        if node.isScalar {
            guard try node.string() == "none" else { throw node.error("\(node.path) must be one of: \(forms); found '\(try node.string())'") }
            return .none
        }
        guard node.isMapping else { throw node.error("\(node.path) must be one of: \(forms)") }
        let m = try node.mapping(allowed: ["shortest", "crop", "fit"])
        if let fit = m["fit"] {
            if m["shortest"] != nil || m["crop"] != nil { throw node.error("\(node.path): 'fit' cannot be combined with 'shortest' or 'crop'") }
            if fit.isScalar { let s = try fit.int(min: 1); return .fit(width: s, height: s) }
            let wh = try fit.list()
            guard wh.count == 2 else { throw fit.error("\(fit.path) is a size or [width, height]") }
            return .fit(width: try wh[0].int(min: 1), height: try wh[1].int(min: 1))
        }
        guard let s = m["shortest"] else { throw node.error("\(node.path) needs 'shortest' (with optional 'crop') or 'fit'") }
        let crop = try m["crop"]?.oneOf(["center", "none"]) ?? "center"
        return .shortestSide(size: try s.int(min: 1), centerCrop: crop == "center")
    }

    static func audio(_ node: SpecNode) throws -> AudioOptions? {
        if node.isScalar { return try node.bool() ? AudioOptions() : nil }
        let m = try node.mapping(allowed: ["segment", "window", "chunk"])
        var a = AudioOptions()
        let mode = try m["segment"]?.oneOf(["span", "window"]) ?? (m["window"] != nil ? "window" : "span")
        a.segmenting = mode == "span" ? .span : .window(try m["window"]?.double(min: 0.01) ?? 2)
        if let c = m["chunk"] { a.chunkSeconds = try c.double(min: 0.1) }
        return a
    }

    /// The default rule keeps the key it had before rules existed, so only a pipeline that uses
    /// `nearest` gets new keys (and reruns its inputs).
    private var subtitleKey: String {
        options.subtitles && subtitlePairing != .overlap ? "\(options.subtitles)/\(subtitlePairing.rawValue)" : "\(options.subtitles)"
    }

    public var fingerprint: String {
        var audio = "off"
        if let a = options.audio { audio = "\(a.sampleRate)/\(a.segmenting)/\(a.chunkSeconds)" }
        // Scene scores follow FFmpeg's `scene` since issue 11: scene-sampled inputs are read again.
        var sampling = "\(options.sampling)"
        if case .scene = options.sampling { sampling += "/ffmpeg-scene" }
        // Stream choices enter the key only when made, so existing outputs keep theirs.
        let streams = [("video", options.videoStream.map { "\($0)" }), ("audio", options.audioStream.map { "\($0)" }),
                       ("subs", options.subtitleStreams.map { $0.map { "\($0)" }.joined(separator: ",") })]
            .compactMap { name, v in v.map { ";\(name)_stream=\($0)" } }.joined()
        return "decode(\(sampling)\(streams);\(options.resize);max=\(options.maxFrames.map(String.init) ?? "-");\(imageFormat.rawValue)@\(quality);audio=\(audio);subs=\(subtitleKey))"
    }
}
