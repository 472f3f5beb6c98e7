import CFFmpeg
import Foundation

public enum MediaKind: String, Sendable, Codable {
    case video, image, audio
}

/// What a file is, from probing alone.
public struct MediaProbe: Sendable {
    public var kind: MediaKind
    public var container: String
    public var duration: Double?
    /// Display size: sample aspect ratio and rotation applied.
    public var width: Int
    public var height: Int
    public var frameRate: Double
    public var videoCodec: String?
    public var audioCodec: String?
    public var rotation: Int
    public var subtitleStreams: Int
}

public struct AudioOptions: Sendable, Equatable {
    public enum Segmenting: Sendable, Equatable {
        /// From each sampled frame to the next (the last one runs to the end of the audio).
        case span
        /// A window of this many seconds centred on each sampled frame.
        case window(Double)
    }
    public var sampleRate: Int
    public var segmenting: Segmenting
    /// Audio-only inputs have no frames to align to: they are cut into chunks of this length.
    public var chunkSeconds: Double
    public init(sampleRate: Int = 16_000, segmenting: Segmenting = .span, chunkSeconds: Double = 10) {
        self.sampleRate = sampleRate; self.segmenting = segmenting; self.chunkSeconds = chunkSeconds
    }
}

/// A stream named in the pipeline: its index in the file, or a language tag ("eng").
public enum StreamChoice: Sendable, Equatable, CustomStringConvertible {
    case index(Int)
    case language(String)
    public var description: String {
        switch self {
        case .index(let i): return "\(i)"
        case .language(let l): return "'\(l)'"
        }
    }
}

public struct DecodeOptions: Sendable {
    public var sampling: SamplingSpec
    public var resize: ResizePolicy
    public var maxFrames: Int?
    /// nil skips audio.
    public var audio: AudioOptions?
    public var subtitles: Bool
    /// false: select frames and report their times without converting pixels (`capfilt frames`).
    public var convertPixels: Bool
    /// Use the container index to seek over frames that will not be kept.
    public var allowSeeking: Bool
    /// nil: FFmpeg's best video / audio stream, and every subtitle stream.
    public var videoStream: StreamChoice? = nil
    public var audioStream: StreamChoice? = nil
    public var subtitleStreams: [StreamChoice]? = nil
    public init(sampling: SamplingSpec = .every(seconds: 1), resize: ResizePolicy = .none, maxFrames: Int? = nil,
                audio: AudioOptions? = AudioOptions(), subtitles: Bool = true, convertPixels: Bool = true,
                allowSeeking: Bool = true) {
        self.sampling = sampling; self.resize = resize; self.maxFrames = maxFrames; self.audio = audio
        self.subtitles = subtitles; self.convertPixels = convertPixels; self.allowSeeking = allowSeeking
    }
}

public struct SampledFrame: Sendable {
    public var index: Int
    /// Seconds from the start of the video stream.
    public var time: Double
    public var image: RGBFrame?
    public var isKeyframe: Bool
    /// For scene sampling: the difference to the previous frame that selected it.
    public var sceneScore: Double?
}

public struct AudioSegment: Sendable {
    public var index: Int
    public var start: Double
    public var end: Double
    public var sampleRate: Int
    public var samples: [Float]
    /// The audio stream's language tag (ISO 639-2), when the container has one.
    public var language: String?
    public init(index: Int, start: Double, end: Double, sampleRate: Int, samples: [Float], language: String? = nil) {
        self.index = index; self.start = start; self.end = end; self.sampleRate = sampleRate; self.samples = samples
        self.language = language
    }
}

public struct DecodeStats: Sendable {
    public var packetsRead = 0
    public var framesDecoded = 0
    public var framesConverted = 0
    public var seeks = 0
    /// Keyframes the container index listed (what seeking can use).
    public var indexedKeyframes = 0
    /// Packets the decoder rejected (corrupt data); decoding went on past them.
    public var corruptPackets = 0
    public var firstCorruption: String?

    mutating func recordCorruption(_ error: FFmpegError) {
        corruptPackets += 1
        if firstCorruption == nil { firstCorruption = error.description }
    }
}

public struct DecodeResult: Sendable {
    public var probe: MediaProbe
    public var frameTimes: [Double]
    public var audio: [AudioSegment]
    public var cues: [SubtitleCue]
    public var stats: DecodeStats
}

/// Decodes one file in-process with libavformat/libavcodec: samples video frames, cuts audio to
/// 16 kHz mono segments aligned to them, and collects subtitle cues.
public enum MediaDecoder {
    private static let imageContainers: Set<String> = ["image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe",
                                                       "tiff_pipe", "gif", "gif_pipe", "pgm_pipe", "ppm_pipe", "qoi_pipe"]

    public static func probe(path: String) throws -> MediaProbe {
        try probe(Demuxer(path: path))
    }

    static func probe(_ demuxer: Demuxer, options: DecodeOptions = DecodeOptions()) throws -> MediaProbe {
        let video = try videoStream(demuxer, chosen: options.videoStream).map { demuxer.info($0) }
        let audio = try (demuxer.stream(.audio, chosen: options.audioStream) ?? demuxer.bestStream(.audio)).map { demuxer.info($0) }
        let subtitles = (0..<demuxer.streamCount).filter { demuxer.info($0).kind == .subtitle }.count
        let kind: MediaKind
        if let _ = video { kind = imageContainers.contains(demuxer.formatName) ? .image : .video }
        else if audio != nil { kind = .audio }
        else { throw FFmpegError(operation: "probe", message: "no video or audio stream") }
        var width = 0, height = 0
        if let v = video {
            width = max(1, Int((Double(v.width) * v.sampleAspectRatio).rounded()))
            height = v.height
            if v.rotation == 90 || v.rotation == 270 { swap(&width, &height) }
        }
        return MediaProbe(kind: kind, container: demuxer.formatName,
                          duration: kind == .image ? nil : (video?.duration ?? demuxer.duration ?? audio?.duration),
                          width: width, height: height, frameRate: kind == .image ? 0 : (video?.frameRate ?? 0),
                          videoCodec: video?.codec, audioCodec: audio?.codec, rotation: video?.rotation ?? 0,
                          subtitleStreams: subtitles)
    }

    private static func videoStream(_ demuxer: Demuxer, chosen: StreamChoice? = nil) throws -> Int? {
        if let chosen = try demuxer.stream(.video, chosen: chosen) { return chosen }
        if let best = demuxer.bestStream(.video), !demuxer.info(best).isAttachedPicture { return best }
        return (0..<demuxer.streamCount).first { let i = demuxer.info($0); return i.kind == .video && !i.isAttachedPicture }
    }

    public static func decode(path: String, options: DecodeOptions,
                              onFrame: (SampledFrame) throws -> Void) throws -> DecodeResult {
        let demuxer = try Demuxer(path: path)
        var probe = try probe(demuxer, options: options)
        var stats = DecodeStats()
        var frameTimes: [Double] = []
        var clockStart = 0.0
        if let v = try videoStream(demuxer, chosen: options.videoStream) {
            clockStart = demuxer.info(v).startTime
            var sampler = try VideoSampler(demuxer: demuxer, stream: v, probe: probe, options: options)
            frameTimes = try sampler.run(stats: &stats, onFrame: onFrame)
            // A JPEG's EXIF orientation is known only once decoded: report the display size.
            if sampler.converter.exifSwapsSides { swap(&probe.width, &probe.height) }
            // A file that opens (its header is fine) but whose data yields no picture is not an input with
            // no media: it is an error with a reason, whatever the sampling spec.
            if frameTimes.isEmpty {
                throw FFmpegError(operation: "decode", message: stats.firstCorruption
                    ?? "the file opened but no video frame could be decoded (\(stats.packetsRead) packets read, \(stats.framesDecoded) frames decoded)")
            }
        } else if let a = try demuxer.stream(.audio, chosen: options.audioStream) ?? demuxer.bestStream(.audio) {
            clockStart = demuxer.info(a).startTime
        }
        var audio: [AudioSegment] = []
        var cues: [SubtitleCue] = []
        if options.audio != nil || options.subtitles, probe.kind != .image {
            // A second reader walks audio and subtitle packets in order while the video reader seeks freely.
            let side = try Demuxer(path: path)
            let reader = SideStreamReader(demuxer: side, clockStart: clockStart, options: options,
                                          frameTimes: frameTimes, duration: probe.duration)
            (audio, cues) = try reader.run(stats: &stats)
            if probe.kind == .audio && audio.isEmpty && options.audio != nil {
                throw FFmpegError(operation: "decode", message: stats.firstCorruption
                    ?? "the file opened but no audio could be decoded (\(stats.packetsRead) packets read)")
            }
        }
        return DecodeResult(probe: probe, frameTimes: frameTimes, audio: audio, cues: cues, stats: stats)
    }
}
