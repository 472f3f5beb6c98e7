import Foundation
import Media

/// The pipeline's `stage: decode` settings: how the reader samples frames with libavcodec, encodes them
/// for storage, cuts audio into 16 kHz mono segments aligned to the frames, and reads subtitle cues.
/// Decoding is not a model stage: every input passes through the reader first (`MediaReader`), and a
/// rerun that only changed later stages reuses its stored output.
public struct DecodeConfig: Sendable {
    public static let typeName = "decode"
    public static let keys = ["sample", "max_frames", "resize", "image_format", "quality", "audio", "subtitles", "seek"]
    public static let summary = "sample video frames (every/fps/keyframes/uniform/scene), resize, audio segments, subtitle cues"

    public var name: String
    public var options: DecodeOptions
    public var imageFormat: ImageFormat
    public var quality: Int

    public init(name: String = typeName, options: DecodeOptions, imageFormat: ImageFormat = .jpeg, quality: Int = 90) {
        self.name = name
        self.options = options
        self.imageFormat = imageFormat
        self.quality = quality
    }

    init(node: SpecNode) throws {
        let config = try node.mapping(allowed: ["stage", "name"] + DecodeConfig.keys)
        var options = DecodeOptions()
        if let s = config["sample"] { options.sampling = try DecodeConfig.sampling(s) }
        if let m = config["max_frames"] { options.maxFrames = try m.int(min: 1) }
        if let r = config["resize"] { options.resize = try DecodeConfig.resize(r) }
        if let a = config["audio"] { options.audio = try DecodeConfig.audio(a) }
        if let s = config["subtitles"] { options.subtitles = try s.bool() }
        if let s = config["seek"] { options.allowSeeking = try s.bool() }
        let format = try config["image_format"].map { ImageFormat(rawValue: try $0.oneOf(ImageFormat.allCases.map(\.rawValue)))! } ?? .jpeg
        let quality = try config["quality"]?.int(min: 1, max: 100) ?? 90
        self.init(name: try config["name"]?.string() ?? DecodeConfig.typeName, options: options, imageFormat: format, quality: quality)
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

    static func resize(_ node: SpecNode) throws -> ResizePolicy {
        if node.isScalar {
            _ = try node.oneOf(["none"])
            return .none
        }
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

    public var fingerprint: String {
        var audio = "off"
        if let a = options.audio { audio = "\(a.sampleRate)/\(a.segmenting)/\(a.chunkSeconds)" }
        return "decode(\(options.sampling);\(options.resize);max=\(options.maxFrames.map(String.init) ?? "-");\(imageFormat.rawValue)@\(quality);audio=\(audio);subs=\(options.subtitles))"
    }
}
